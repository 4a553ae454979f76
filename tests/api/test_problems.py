"""Errors are RFC 9457 problems with a stable type; a client can never cause a 500 or see a
traceback; a body is capped; a backend that is down answers 503 with Retry-After."""

from __future__ import annotations

import pytest

from outbox.domain.errors import (
    BackendUnavailable,
    CommitOutcomeUnknown,
    Conflict,
    InvalidInput,
    NameTaken,
    NotFound,
    TransitionRefused,
    VersionConflict,
)
from outbox.store.memory.store import MemoryStore
from outbox_api.problems import MEDIA_TYPE, problem_for
from outbox_api.tokens import Role, Tokens
from tests.support.api import SPEC, Api, build_api, counts
from tests.support.clock import FakeClock
from tests.support.store_faults import SwitchableStore

PROBLEM = "urn:outbox:problem:"


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidInput("replicas: must be at most 100"), 422, "invalid-input"),
        (TransitionRefused("restart", "Stopped", "Stopped", "Started"), 409, "transition-refused"),
        (NameTaken("name 'edge' is used"), 409, "name-in-use"),
        (VersionConflict("gw_1", 3, 4), 412, "version-mismatch"),
        (NotFound("no gateway 'x'"), 404, "not-found"),
        (BackendUnavailable("MongoDB down"), 503, "backend-unavailable"),
        (CommitOutcomeUnknown("timed out"), 503, "commit-outcome-unknown"),
        (Conflict("gave up"), 409, "conflict"),
    ],
)
def test_each_error_of_the_product_has_its_status_and_stable_type(
    error: Exception, status: int, kind: str
) -> None:
    problem = problem_for(error)  # type: ignore[arg-type]

    assert (problem.status, problem.kind) == (status, kind)
    assert (problem.headers.get("Retry-After") is not None) == (status == 503)


def test_bad_input_is_422_naming_each_field(api: Api) -> None:
    response = api.client.post(
        "/v1/gateways",
        json={"name": "Bad_Name", "spec": {"image": "", "replicas": 0, "port": 70000}},
        headers=api.headers(),
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["type"] == PROBLEM + "invalid-input"
    assert body["status"] == 422
    fields = {error["field"] for error in body["errors"]}
    assert {"name", "spec.image", "spec.replicas", "spec.port"} <= fields


def test_unknown_fields_are_refused_by_name(api: Api) -> None:
    response = api.client.post(
        "/v1/gateways", json={"name": "edge", "spec": SPEC, "colour": "red"}, headers=api.headers()
    )

    assert response.status_code == 422
    assert "colour" in {error["field"] for error in response.json()["errors"]}


def test_a_name_in_use_is_409(api: Api) -> None:
    api.create("edge")

    response = api.create("edge")

    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM + "name-in-use"


def test_a_host_in_use_is_409(api: Api) -> None:
    api.create("one", spec={**SPEC, "host": "shared.example.com"})

    response = api.create("two", spec={**SPEC, "host": "shared.example.com"})

    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM + "name-in-use"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b"\xff\xfe",
        b'{"name": 5, "spec": []}',
        b'{"name": "edge", "spec": {"image": "nginx", "replicas": 1e999}}',
        b'{"name": "edge", "spec": {"image": "nginx", "environments": "prod"}}',
    ],
)
def test_garbage_bodies_are_422_never_500(api: Api, body: bytes) -> None:
    response = api.client.post(
        "/v1/gateways",
        content=body,
        headers=api.headers(**{"Content-Type": "application/json"}),
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/gateways", {"limit": "0"}),
        ("/v1/gateways", {"limit": "many"}),
        ("/v1/gateways", {"state": "Sleeping"}),
        ("/v1/gateways/edge/wait", {"for": "phase=Napping"}),
        ("/v1/gateways/edge/wait", {"for": "state=Running"}),
        ("/v1/gateways/edge/wait", {"for": "phase=Started", "timeout": "61"}),
        ("/v1/gateways/edge/wait", {"for": "phase=Started", "version": "-1"}),
    ],
)
def test_bad_query_parameters_are_422(api: Api, path: str, params: dict[str, str]) -> None:
    api.create("edge")

    response = api.client.get(path, params=params, headers=api.headers())

    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEM + "invalid-input"


def test_a_body_over_the_cap_is_413_and_writes_nothing(memory_store: MemoryStore) -> None:
    api = build_api(memory_store, FakeClock(), api_max_body=2048)
    before = counts(memory_store)
    padding = "x" * 4096

    declared = api.client.post(
        "/v1/gateways",
        json={"name": "edge", "spec": {**SPEC, "image": padding}},
        headers=api.headers(),
    )
    streamed = api.client.post(
        "/v1/gateways",
        content=iter([b'{"name": "edge", "spec": {"image": "', padding.encode(), b'"}}']),
        headers=api.headers(**{"Content-Type": "application/json"}),
    )

    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["type"] == streamed.json()["type"] == PROBLEM + "body-too-large"
    assert counts(memory_store) == before


def test_unknown_routes_and_methods_are_problems_too(api: Api) -> None:
    missing = api.client.get("/v1/nothing-here", headers=api.headers())
    wrong_method = api.client.put("/v1/gateways", headers=api.headers())

    assert (missing.status_code, missing.json()["type"]) == (404, PROBLEM + "not-found")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == MEDIA_TYPE


def test_a_backend_that_is_down_is_503_with_retry_after(clock: FakeClock) -> None:
    store = SwitchableStore(MemoryStore())
    bearer = Tokens(store, clock=clock).create("writer", Role.WRITER).bearer
    api = build_api(store, clock, bearers={Role.WRITER: bearer, Role.ADMIN: bearer})
    api.create("edge")  # the token is cached from here on
    store.down = True

    responses = [
        api.client.get("/v1/gateways/edge", headers=api.headers(Role.WRITER)),
        api.create("other"),
        api.client.get("/readyz"),
    ]

    assert [r.status_code for r in responses] == [503, 503, 503]
    for response in responses[:2]:
        assert response.json()["type"] == PROBLEM + "backend-unavailable"
        assert int(response.headers["Retry-After"]) > 0
    store.down = False
    assert api.client.get("/readyz").status_code == 200
