"""Idempotency-Key: a repeated write answers with its first response and writes nothing more;
the key is stored in the same transaction as the write, scoped to the token, for 24 hours."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from outbox.domain.errors import BackendUnavailable, CommitOutcomeUnknown
from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS, IDEMPOTENCY_KEYS, OUTBOX, Collections, Store, T
from outbox_api.idempotency import (
    Claimed,
    IdempotencyKeys,
    InFlight,
    KeyTakenOver,
    Mismatch,
    Replay,
    Response,
)
from outbox_api.tokens import Role, Tokens
from tests.support.api import SPEC, Api, GatedStore, auth, build_api, concurrently, counts
from tests.support.clock import FakeClock
from tests.support.store_faults import SwitchableStore
from tests.support.stores import DelegatingStore

PROBLEM = "urn:outbox:problem:"


def create(api: Api, key: str, name: str = "edge", role: Role = Role.WRITER, **spec: Any) -> Any:
    return api.client.post(
        "/v1/gateways",
        json={"name": name, "spec": {**SPEC, **spec}},
        headers=api.headers(role, Idempotency_Key=key),
    )


def test_the_same_key_and_body_replays_the_first_response_without_writing(api: Api) -> None:
    first = create(api, "key-1")
    written = counts(api.store)

    again = create(api, "key-1")

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert counts(api.store) == written
    assert api.store.collection(OUTBOX).count_documents({}) == 1


def test_a_replay_is_the_first_response_even_after_the_gateway_changed(api: Api) -> None:
    api.create("edge")
    first = api.client.post("/v1/gateways/edge/stop", headers=api.headers(Idempotency_Key="s"))
    api.client.post("/v1/gateways/edge/start", headers=api.headers())

    again = api.client.post("/v1/gateways/edge/stop", headers=api.headers(Idempotency_Key="s"))

    assert again.json() == first.json()
    assert again.json()["state"] == "Stopped"
    assert api.client.get("/v1/gateways/edge", headers=api.headers()).json()["state"] == "Running"


def test_json_spacing_and_key_order_do_not_make_another_body(api: Api) -> None:
    headers = api.headers(Role.WRITER, Idempotency_Key="k", **{"Content-Type": "application/json"})
    first = api.client.post(
        "/v1/gateways", content=b'{"name":"edge","spec":{"image":"nginx:1.27"}}', headers=headers
    )
    again = api.client.post(
        "/v1/gateways",
        content=b'{ "spec": { "image": "nginx:1.27" },  "name": "edge" }',
        headers=headers,
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_422_and_writes_nothing(api: Api) -> None:
    create(api, "key-1", name="edge")
    before = counts(api.store)

    other_body = create(api, "key-1", name="other")
    other_route = api.client.post(
        "/v1/gateways/edge/stop", headers=api.headers(Role.WRITER, Idempotency_Key="key-1")
    )

    for response in (other_body, other_route):
        assert response.status_code == 422
        assert response.json()["type"] == PROBLEM + "idempotency-key-reused"
    assert counts(api.store) == before


def test_the_same_key_while_the_first_request_is_in_flight_is_409(clock: FakeClock) -> None:
    store = GatedStore(MemoryStore())
    api = build_api(store, clock)
    store.gate(2)  # the first write waits inside until the test opens the gate
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(create, api, "key-1")
        assert store.arrived.wait(30)  # the first request holds the key, inside its write

        during = create(api, "key-1")
        store.open()
        finished = first.result(timeout=30)
    after = create(api, "key-1")

    assert during.status_code == 409
    assert during.json()["type"] == PROBLEM + "idempotency-key-in-flight"
    assert finished.status_code == 201
    assert (after.status_code, after.content) == (201, finished.content)
    assert store.collection(GATEWAYS).count_documents({}) == 1


def test_concurrent_requests_with_one_key_write_once_and_never_say_name_in_use(
    clock: FakeClock,
) -> None:
    store = MemoryStore()
    api = build_api(store, clock)

    responses = concurrently(*[lambda: create(api, "race") for _ in range(8)])

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    assert statuses.count(201) >= 1
    kinds = {r.json().get("type") for r in responses if r.status_code == 409}
    assert kinds <= {PROBLEM + "idempotency-key-in-flight"}
    bodies = {r.content for r in responses if r.status_code == 201}
    assert len(bodies) == 1
    assert store.collection(GATEWAYS).count_documents({}) == 1
    assert store.collection(OUTBOX).count_documents({}) == 1


def test_keys_are_scoped_to_the_token(memory_store: MemoryStore, clock: FakeClock) -> None:
    api = build_api(memory_store, clock)
    other = Tokens(memory_store, clock=clock).create("other-writer", Role.WRITER).bearer

    mine = create(api, "shared-key", name="mine")
    theirs = api.client.post(
        "/v1/gateways",
        json={"name": "theirs", "spec": SPEC},
        headers={**auth(other), "Idempotency-Key": "shared-key"},
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert memory_store.collection(GATEWAYS).count_documents({}) == 2


def test_a_refused_write_releases_its_key_so_a_retry_writes(api: Api) -> None:
    created = api.create("edge").json()
    refused = api.client.post("/v1/gateways/edge/restart", headers=api.headers(Idempotency_Key="r"))
    api.store.collection(GATEWAYS).update_one(
        {"_id": created["id"]},
        {"$set": {"phase": str(Phase.STARTED), "applied_spec_version": 1, "at_rest": True}},
    )

    retried = api.client.post("/v1/gateways/edge/restart", headers=api.headers(Idempotency_Key="r"))

    assert refused.status_code == 409
    assert retried.status_code == 200
    assert retried.json()["state"] == "Restarting"


def test_a_key_is_forgotten_after_24_hours(api: Api) -> None:
    create(api, "daily", name="first")
    api.clock.advance(timedelta(hours=24, seconds=1).total_seconds())

    reused = create(api, "daily", name="second")

    assert reused.status_code == 201
    assert reused.json()["name"] == "second"


def test_a_key_that_is_not_visible_ascii_is_422(api: Api) -> None:
    response = create(api, "k" * 256)

    assert response.status_code == 422
    assert counts(api.store)[GATEWAYS] == 0


class _FailingAfterWork(DelegatingStore):
    """The next transaction runs its work (the write and the key's record), then fails:
    `inside` aborts it (nothing commits), otherwise it commits and the outcome is lost."""

    def __init__(self, inner: Store, *, inside: bool) -> None:
        super().__init__(inner)
        self.inside = inside
        self.armed = True

    def transaction(self, work: Callable[[Collections], T]) -> T:
        if not self.armed:
            return self.inner.transaction(work)
        self.armed = False
        if self.inside:

            def failing(collections: Collections) -> T:
                work(collections)
                raise BackendUnavailable("MongoDB at test went away before the commit")

            return self.inner.transaction(failing)
        self.inner.transaction(work)
        raise CommitOutcomeUnknown("MongoDB at test: the commit timed out")


def test_an_aborted_write_takes_its_key_record_with_it(clock: FakeClock) -> None:
    store = _FailingAfterWork(MemoryStore(), inside=True)
    api = build_api(store, clock)

    failed = create(api, "k")
    left = {
        name: store.collection(name).count_documents({}) for name in (IDEMPOTENCY_KEYS, GATEWAYS)
    }
    retried = create(api, "k")

    assert failed.status_code == 503
    assert left == {IDEMPOTENCY_KEYS: 0, GATEWAYS: 0}
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert store.collection(GATEWAYS).count_documents({}) == 1


def test_a_retry_after_a_commit_of_unknown_outcome_replays_instead_of_writing_twice(
    clock: FakeClock,
) -> None:
    store = _FailingAfterWork(MemoryStore(), inside=False)
    api = build_api(store, clock)

    unknown = create(api, "k")
    retried = create(api, "k")

    assert unknown.status_code == 503
    assert unknown.json()["type"] == PROBLEM + "commit-outcome-unknown"
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert store.collection(GATEWAYS).count_documents({}) == 1
    assert store.collection(OUTBOX).count_documents({}) == 1


# -- the repository, on its own -----------------------------------------------------------------


@pytest.fixture
def keys(memory_store: MemoryStore, clock: FakeClock) -> IdempotencyKeys:
    return IdempotencyKeys(memory_store, clock=clock)


def test_a_claim_abandoned_by_a_dead_request_is_taken_over_after_the_claim_timeout(
    keys: IdempotencyKeys, memory_store: MemoryStore, clock: FakeClock
) -> None:
    dead = keys.begin("tok", "k", "request-a")
    assert isinstance(dead, Claimed)
    assert isinstance(keys.begin("tok", "k", "request-a"), InFlight)

    clock.advance(121)
    taken = keys.begin("tok", "k", "request-a")

    assert isinstance(taken, Claimed) and taken.claim != dead.claim
    with pytest.raises(KeyTakenOver):
        memory_store.transaction(lambda c: keys.complete(c, dead, Response(201, "{}", {})))
    memory_store.transaction(lambda c: keys.complete(c, taken, Response(201, "{}", {})))
    assert isinstance(keys.begin("tok", "k", "request-a"), Replay)
    assert isinstance(keys.begin("tok", "k", "request-b"), Mismatch)


def test_release_never_forgets_a_completed_record(
    keys: IdempotencyKeys, memory_store: MemoryStore
) -> None:
    claimed = keys.begin("tok", "k", "request")
    assert isinstance(claimed, Claimed)
    memory_store.transaction(
        lambda c: keys.complete(c, claimed, Response(202, "{}", {"ETag": '"2"'}))
    )

    keys.release(claimed)

    replay = keys.begin("tok", "k", "request")
    assert replay == Replay(Response(202, "{}", {"ETag": '"2"'}))


class _LostWithTheDatabase(SwitchableStore):
    """The commit's outcome is lost, and MongoDB is gone right after it."""

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self.inner.transaction(work)
        self.down = True
        raise CommitOutcomeUnknown("MongoDB at test: the commit timed out")


def test_a_key_that_cannot_be_released_still_reports_the_writes_own_error(
    clock: FakeClock,
) -> None:
    store = _LostWithTheDatabase(MemoryStore())
    api = build_api(store, clock)

    response = create(api, "k")

    assert response.status_code == 503
    assert response.json()["type"] == PROBLEM + "commit-outcome-unknown"
