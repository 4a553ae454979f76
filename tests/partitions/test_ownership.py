"""Partition leases in MongoDB: replicas split the partitions fairly within a lease time when
one starts, take a stopped or dead one's back, and fence each partition on its own."""

from __future__ import annotations

import pytest

from outbox.coordination.ownership import PartitionOwnership
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import Store
from tests.support.clock import FakeClock

LEASE = 8.0
P = 8


@pytest.fixture(params=["memory", "nx-27017"])
def store(request: pytest.FixtureRequest) -> MemoryStore | MongoStore:
    name = {"memory": "memory_store", "nx-27017": "nx_store"}[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def replica(store: Store, name: str, clock: FakeClock) -> PartitionOwnership:
    return PartitionOwnership(
        store,
        role="relay",
        owner=name,
        stream="events:gateway",
        partitions=P,
        lease_seconds=LEASE,
        clock=clock,
    )


def run_for(seconds: float, clock: FakeClock, *replicas: PartitionOwnership) -> None:
    """Each replica turns at its balancing pace, as the daemons' loops do."""
    step = LEASE / 8
    for _ in range(round(seconds / step)):
        for each in replicas:
            each.balance()
        clock.advance(step)


def assert_split(*replicas: PartitionOwnership) -> None:
    """Every partition owned exactly once."""
    owned = [each.owned() for each in replicas]
    assert sorted(n for share in owned for n in share) == list(range(P)), owned


def test_a_second_replica_gets_half_within_a_lease_time_and_all_come_back_when_it_stops(
    store: Store, clock: FakeClock
) -> None:
    a = replica(store, "a", clock)
    run_for(LEASE, clock, a)
    assert a.owned() == frozenset(range(P))

    b = replica(store, "b", clock)
    run_for(LEASE, clock, a, b)
    assert (len(a.owned()), len(b.owned())) == (4, 4)
    assert_split(a, b)

    b.leave()
    run_for(LEASE, clock, a)
    assert a.owned() == frozenset(range(P))


def test_three_replicas_hold_three_three_and_two(store: Store, clock: FakeClock) -> None:
    replicas = [replica(store, name, clock) for name in "abc"]
    run_for(2 * LEASE, clock, *replicas)
    assert sorted(len(each.owned()) for each in replicas) == [2, 3, 3]
    assert_split(*replicas)


def test_a_dead_replicas_partitions_move_within_a_lease_time_with_higher_tokens(
    store: Store, clock: FakeClock
) -> None:
    a, b = replica(store, "a", clock), replica(store, "b", clock)
    run_for(2 * LEASE, clock, a, b)
    dead = b.owned()
    tokens = {n: b.token(n) for n in dead}

    # b stops turning without handing anything back (killed).
    run_for(LEASE + LEASE / 4, clock, a)

    assert a.owned() == frozenset(range(P))
    for n in dead:
        assert (a.token(n) or 0) > (tokens[n] or 0)
    assert not b.owned(), "b's trust in its leases ran out before a took them"


def test_while_a_lease_is_held_by_a_live_replica_nobody_else_takes_it(
    store: Store, clock: FakeClock
) -> None:
    a, b = replica(store, "a", clock), replica(store, "b", clock)
    for _ in range(40):
        a.balance()
        b.balance()
        assert not (a.held() & b.held())
        clock.advance(LEASE / 10)
    assert_split(a, b)


def test_a_partition_to_hand_back_stops_counting_at_once_but_its_lease_waits_for_the_work(
    store: Store, clock: FakeClock
) -> None:
    a = replica(store, "a", clock)
    run_for(LEASE, clock, a)
    b = replica(store, "b", clock)
    busy = {7}  # a still works on a gateway of partition 7

    for _ in range(16):
        a.balance(may_release=lambda n: n not in busy)
        b.balance()
        clock.advance(LEASE / 8)

    assert a.owned() == frozenset({0, 1, 2, 3}), "7 is being handed back: no new work on it"
    assert 7 in a.held() and 7 not in b.owned(), "b never works on 7 while a does"
    busy.clear()
    run_for(LEASE, clock, a, b)
    assert b.owned() == frozenset({4, 5, 6, 7})
