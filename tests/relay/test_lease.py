"""Relay leadership: one lease document, a fencing token, expiry on the relays' clock."""

from __future__ import annotations

import pytest

from outbox.coordination.lease_holder import Lease
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import Store
from tests.support.clock import FakeClock


def lease(store: Store, owner: str, clock: FakeClock) -> Lease:
    return Lease(store, name="relay:events:gateway", owner=owner, seconds=10, clock=clock)


@pytest.fixture(params=["memory", "nx-27017"])
def store(request: pytest.FixtureRequest) -> MemoryStore | MongoStore:
    # Over the wire too: nx-27017 stores `$set` dates as text, which the adapter reads back.
    name = {"memory": "memory_store", "nx-27017": "relay_nx_store"}[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_one_relay_holds_the_lease_and_the_other_waits(store: Store, clock: FakeClock) -> None:
    a, b = lease(store, "a", clock), lease(store, "b", clock)

    assert a.acquire()
    assert not b.acquire()
    clock.advance(9)
    assert a.acquire(), "renewal by the holder"
    clock.advance(9)
    assert not b.acquire(), "renewed 9s ago: still held"
    holder = a.holder()
    assert holder is not None and holder.owner == "a" and holder.token == a.token


def test_a_standby_takes_over_an_expired_lease_with_a_higher_token(
    store: Store, clock: FakeClock
) -> None:
    a, b = lease(store, "a", clock), lease(store, "b", clock)
    assert a.acquire()
    first_token = a.token
    assert first_token is not None

    clock.advance(10.001)  # a died: it renewed no more

    assert b.acquire()
    assert b.token is not None and b.token > first_token
    assert not a.acquire(), "the old holder finds it lost"
    assert a.token is None


def test_the_holder_stops_trusting_its_lease_before_it_expires(
    store: Store, clock: FakeClock
) -> None:
    a = lease(store, "a", clock)
    assert a.acquire()

    clock.advance(7.9)
    assert a.valid()
    clock.advance(0.2)  # 8.1 s of 10: within the safety margin
    assert not a.valid()


def test_a_released_lease_is_free_at_once(store: Store, clock: FakeClock) -> None:
    a, b = lease(store, "a", clock), lease(store, "b", clock)
    assert a.acquire()

    a.release()

    assert not a.valid()
    assert b.acquire()


def test_the_token_keeps_rising_when_the_lease_document_is_lost(clock: FakeClock) -> None:
    old, new = MemoryStore(), MemoryStore()
    a = lease(old, "a", clock)
    assert a.acquire()
    clock.advance(1)

    b = lease(new, "b", clock)
    assert b.acquire()

    assert b.token is not None and a.token is not None and b.token > a.token
