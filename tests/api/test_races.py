"""Conditional writes under concurrency, on the in-memory store with threads: two PATCHes
sent with one ETag while both are in flight commit once; the other is told 412."""

from __future__ import annotations

from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.writer import Writer
from outbox_api.tokens import Role
from tests.support.api import GatedStore, build_api, concurrently
from tests.support.clock import FakeClock


def test_two_concurrent_patches_with_one_etag_commit_once(clock: FakeClock) -> None:
    store = GatedStore(MemoryStore())
    api = build_api(store, clock)
    etag = api.create("edge").headers["ETag"]
    store.gate(2)  # from now on, both writes are in flight before either commits

    def patch(replicas: int) -> int:
        response = api.client.patch(
            "/v1/gateways/edge",
            json={"replicas": replicas},
            headers=api.headers(Role.WRITER, If_Match=etag),
        )
        return response.status_code

    statuses = concurrently(lambda: patch(2), lambda: patch(3))

    assert sorted(statuses) == [200, 412]
    gateway = Writer(store).get("edge")
    assert gateway.version == 2
    assert gateway.spec.replicas == (2 if statuses[0] == 200 else 3)
    events = store.collection(OUTBOX).find({"type": "GatewaySpecUpdated"})
    assert len(events) == 1


def test_concurrent_actions_without_if_match_are_retried_by_the_writer(clock: FakeClock) -> None:
    store = GatedStore(MemoryStore())
    api = build_api(store, clock)
    api.create("edge")
    store.gate(2)

    def patch(port: int) -> int:
        response = api.client.patch(
            "/v1/gateways/edge", json={"port": port}, headers=api.headers(Role.WRITER)
        )
        return response.status_code

    statuses = concurrently(lambda: patch(81), lambda: patch(82))

    assert statuses == [200, 200]
    assert Writer(store).get("edge").version == 3
