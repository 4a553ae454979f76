"""Tokens: a public id and a secret whose digest alone is stored; roles; revocation and expiry
seen by every replica within 5 s; the `outbox token` commands and `/v1/tokens`."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from outbox.domain.errors import InvalidInput, NameTaken, NotFound
from outbox.store.memory.store import MemoryStore
from outbox.store.port import TOKENS
from outbox_api.tokens import Role, Tokens, parse_duration, split_bearer
from tests.support.api import SPEC, Api, auth, build_api, counts
from tests.support.cli import invoke_outbox
from tests.support.clock import FakeClock

# -- the repository ---------------------------------------------------------------------------


def test_only_the_digest_of_the_secret_is_stored(memory_store: MemoryStore) -> None:
    issued = Tokens(memory_store).create("ci", Role.WRITER)
    token_id, secret = split_bearer(issued.bearer) or ("", "")

    (document,) = memory_store.collection(TOKENS).find({})

    assert document["_id"] == token_id == issued.token.id
    assert document["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(document, default=str)
    assert issued.token.matches(secret)
    assert not issued.token.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_a_name_is_held_by_one_live_token_and_freed_by_revoking_it(
    memory_store: MemoryStore,
) -> None:
    tokens = Tokens(memory_store)
    first = tokens.create("ci", Role.READER)

    with pytest.raises(NameTaken):
        tokens.create("ci", Role.ADMIN)
    tokens.revoke("ci")
    second = tokens.create("ci", Role.ADMIN)

    assert second.token.id != first.token.id
    live = {t.id: t.revoked_at is None for t in tokens.list()}
    assert live == {first.token.id: False, second.token.id: True}
    with pytest.raises(NotFound):
        tokens.revoke("nobody")


def test_token_names_and_roles_are_validated(memory_store: MemoryStore) -> None:
    with pytest.raises(InvalidInput):
        Tokens(memory_store).create("Not A Name", Role.READER)
    with pytest.raises(InvalidInput):
        Tokens(memory_store).create("ci", "superuser")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("2w", 1209600), ("45s", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1y", "1.5h"])
def test_bad_durations_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "tok_", "tok_0123456789abcdef", "x.y", "tok_XYZ.secret"])
def test_malformed_bearer_texts_are_not_split(text: str) -> None:
    assert split_bearer(text) is None


# -- authentication and roles over HTTP --------------------------------------------------------

WRITES = [
    ("post", "/v1/gateways", {"name": "new", "spec": SPEC}),
    ("patch", "/v1/gateways/edge", {"replicas": 2}),
    ("post", "/v1/gateways/edge/stop", None),
    ("post", "/v1/gateways/edge/start", None),
    ("post", "/v1/gateways/edge/restart", None),
    ("delete", "/v1/gateways/edge", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer tok_0.x"]
)
def test_no_or_a_malformed_token_is_401_and_writes_nothing(
    api: Api, method: str, path: str, body: object, authorization: str | None
) -> None:
    api.create("edge")
    before = counts(api.store)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = api.client.request(method.upper(), path, json=body, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["type"] == "urn:outbox:problem:unauthenticated"
    assert counts(api.store) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_wrong_secret_for_a_real_token_id_is_401_and_writes_nothing(
    api: Api, method: str, path: str, body: object
) -> None:
    api.create("edge")
    before = counts(api.store)
    token_id, secret = split_bearer(api.bearers[Role.ADMIN]) or ("", "")
    forged = f"{token_id}.{'A' * len(secret)}"

    response = api.client.request(method.upper(), path, json=body, headers=auth(forged))

    assert response.status_code == 401
    assert counts(api.store) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_reader_may_not_write_403_and_nothing_written(
    api: Api, method: str, path: str, body: object
) -> None:
    api.create("edge")
    before = counts(api.store)

    response = api.client.request(method.upper(), path, json=body, headers=api.headers(Role.READER))

    assert response.status_code == 403
    assert response.json()["type"] == "urn:outbox:problem:forbidden"
    assert counts(api.store) == before


def test_each_role_may_do_what_the_ones_below_it_may(api: Api) -> None:
    api.create("edge")

    def status(role: Role, method: str, path: str, body: object = None) -> int:
        return api.client.request(method, path, json=body, headers=api.headers(role)).status_code

    assert [status(role, "GET", "/v1/gateways/edge") for role in Role] == [200, 200, 200]
    ports = {role: 81 + index for index, role in enumerate(Role)}  # each a real change
    assert [status(role, "PATCH", "/v1/gateways/edge", {"port": ports[role]}) for role in Role] == [
        403,
        200,
        200,
    ]
    assert [status(role, "GET", "/v1/tokens") for role in Role] == [403, 403, 200]


def test_an_expired_token_is_refused(memory_store: MemoryStore, clock: FakeClock) -> None:
    issued = Tokens(memory_store, clock=clock).create(
        "short", Role.READER, expires_in=timedelta(hours=1)
    )
    api = build_api(memory_store, clock)

    fresh = api.client.get("/v1/gateways", headers=auth(issued.bearer))
    clock.advance(3600)
    expired = api.client.get("/v1/gateways", headers=auth(issued.bearer))

    assert (fresh.status_code, expired.status_code) == (200, 401)


def test_last_used_at_is_kept_without_a_write_per_request(api: Api) -> None:
    tokens = Tokens(api.store)
    token_id = api.bearers[Role.READER].split(".")[0]
    assert tokens.get(token_id).last_used_at is None  # type: ignore[union-attr]

    api.client.get("/v1/gateways", headers=api.headers(Role.READER))
    first = tokens.get(token_id).last_used_at  # type: ignore[union-attr]
    api.clock.advance(10)
    api.client.get("/v1/gateways", headers=api.headers(Role.READER))
    unchanged = tokens.get(token_id).last_used_at  # type: ignore[union-attr]
    api.clock.advance(60)
    api.client.get("/v1/gateways", headers=api.headers(Role.READER))
    later = tokens.get(token_id).last_used_at  # type: ignore[union-attr]

    assert first == unchanged is not None
    assert later is not None and later > first


def test_a_token_revoked_on_one_replica_is_refused_by_another_within_5_s(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    one = build_api(memory_store, clock)
    other = build_api(memory_store, clock, bearers=one.bearers)  # same tokens, its own cache
    victim = Tokens(memory_store, clock=clock).create("victim", Role.READER).bearer
    assert other.client.get("/v1/gateways", headers=auth(victim)).status_code == 200  # cached

    revoked = one.client.delete("/v1/tokens/victim", headers=one.headers(Role.ADMIN))
    refused_on_one = one.client.get("/v1/gateways", headers=auth(victim)).status_code
    seconds = 0.0
    while other.client.get("/v1/gateways", headers=auth(victim)).status_code == 200:
        clock.advance(0.5)
        seconds += 0.5
        assert seconds <= 5.0, "the other replica still accepts the revoked token after 5 s"

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert refused_on_one == 401


# -- /v1/tokens --------------------------------------------------------------------------------


def test_admins_create_list_and_revoke_tokens_over_http(api: Api) -> None:
    created = api.client.post(
        "/v1/tokens",
        json={"name": "deployer", "role": "writer", "expires": "90d"},
        headers=api.headers(),
    )
    bearer = created.json()["token"]
    listed = api.client.get("/v1/tokens", headers=api.headers()).json()
    works = api.client.post("/v1/gateways", json={"name": "x1", "spec": SPEC}, headers=auth(bearer))
    revoked = api.client.delete("/v1/tokens/deployer", headers=api.headers())
    again = api.client.delete("/v1/tokens/deployer", headers=api.headers())

    assert created.status_code == 201
    assert created.json()["role"] == "writer"
    assert created.json()["expires_at"] is not None
    assert "deployer" in [item["name"] for item in listed]
    assert all("token" not in item and "digest" not in item for item in listed)
    assert works.status_code == 201
    assert revoked.status_code == 200
    assert again.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "role": "root"},
        {"name": "Bad Name", "role": "reader"},
        {"name": "x", "role": "reader", "expires": "forever"},
    ],
)
def test_bad_token_requests_are_422(api: Api, body: dict[str, str]) -> None:
    response = api.client.post("/v1/tokens", json=body, headers=api.headers())

    assert response.status_code == 422


# -- the commands -------------------------------------------------------------------------------


def test_token_create_prints_the_token_alone_on_stdout(memory_store: MemoryStore) -> None:
    result = invoke_outbox(
        memory_store, "token", "create", "ci", "--role", "writer", "--expires", "90d"
    )

    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    token_id, secret = split_bearer(line) or ("", "")
    stored = Tokens(memory_store).get(token_id)
    assert stored is not None and stored.matches(secret) and stored.role is Role.WRITER
    assert stored.expires_at is not None


def test_token_list_and_revoke(memory_store: MemoryStore) -> None:
    invoke_outbox(memory_store, "token", "create", "ci", "--role", "reader")

    listed = invoke_outbox(memory_store, "token", "list")
    as_json = invoke_outbox(memory_store, "token", "list", "--json")
    revoked = invoke_outbox(memory_store, "token", "revoke", "ci")
    missing = invoke_outbox(memory_store, "token", "revoke", "ci")
    after = json.loads(invoke_outbox(memory_store, "token", "list", "--json").stdout)

    assert "ci" in listed.stdout and "active" in listed.stdout
    assert "digest" not in as_json.stdout
    assert revoked.exit_code == 0
    assert missing.exit_code == 5
    assert after[0]["revoked_at"] is not None


def test_token_create_refuses_a_bad_role_or_lifetime(memory_store: MemoryStore) -> None:
    role = invoke_outbox(memory_store, "token", "create", "ci", "--role", "root")
    lifetime = invoke_outbox(
        memory_store, "token", "create", "ci", "--role", "reader", "--expires", "soon"
    )

    assert (role.exit_code, lifetime.exit_code) == (2, 2)
    assert Tokens(memory_store).list() == []


@pytest.mark.parametrize("body", [b"{", b"\xff", b'{"name": 1}'])
def test_an_unknown_caller_gets_401_before_any_word_about_its_body(api: Api, body: bytes) -> None:
    response = api.client.post(
        "/v1/gateways", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401
