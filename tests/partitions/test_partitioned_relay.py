"""Relays on a partitioned store: each owns a fair share of the partitions, reads them in one
query, publishes each event once into its partition's stream, fenced per partition."""

from __future__ import annotations

import pytest

from outbox.domain.events import EventType, OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import EventStream, StreamConfig, keys
from outbox.stream.memory.stream import MemoryStream
from relay.daemon import Relay
from relay.factory import build_relay
from tests.support.clock import FakeClock
from tests.support.partitions import (
    STREAM,
    assert_each_once_in_its_partition,
    insert_partitioned_events,
    partition_entries,
    record_partitions,
)
from tests.support.relay import relay_settings

P = 4
LEASE = 4.0


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    record_partitions(store, P)
    return store


@pytest.fixture
def stream(clock: FakeClock) -> EventStream:
    return MemoryStream(StreamConfig(stream=STREAM))


def relay(store: MemoryStore, stream: EventStream, clock: FakeClock, name: str) -> Relay:
    settings = relay_settings(relay_id=name, lease_seconds=LEASE, batch_size=50)
    return build_relay(settings, store=store, stream=stream, clock=clock, change_streams=False)


def turns(clock: FakeClock, *relays: Relay, count: int = 40) -> None:
    for _ in range(count):
        for each in relays:
            each.run_once()
        clock.advance(LEASE / 8)


def test_one_relay_publishes_every_event_once_into_its_partition_in_order(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    events = insert_partitioned_events(store, P, gateways=30, per_gateway=4, at=clock())
    turns(clock, relay(store, stream, clock, "a"))

    assert_each_once_in_its_partition(stream, P, [event.id for event in events])
    assert not stream.with_config(StreamConfig(stream=STREAM)).entries()  # no single stream
    assert store.collection(OUTBOX).count_documents({"published_at": None}) == 0


def test_two_relays_each_publish_only_into_the_partitions_they_own(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    a, b = relay(store, stream, clock, "a"), relay(store, stream, clock, "b")
    turns(clock, a, b, count=16)  # settle the split first
    owned = {"a": a.lease.ownership.owned(), "b": b.lease.ownership.owned()}  # type: ignore[union-attr]
    assert sorted(len(share) for share in owned.values()) == [2, 2]

    events = insert_partitioned_events(store, P, gateways=30, per_gateway=3, at=clock())
    a.run_once()
    published_by_a = {n for n, entries in partition_entries(stream, P).items() if entries}
    assert published_by_a == set(owned["a"])
    turns(clock, a, b, count=4)
    assert_each_once_in_its_partition(stream, P, [event.id for event in events])


def test_a_killed_relays_partitions_are_published_by_the_survivor_within_a_lease_time(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    a, b = relay(store, stream, clock, "a"), relay(store, stream, clock, "b")
    turns(clock, a, b, count=16)
    events = insert_partitioned_events(store, P, gateways=30, per_gateway=3, at=clock())
    # b is killed: it stops turning and hands nothing back.
    turns(clock, a, count=round(1.5 * LEASE / (LEASE / 8)))
    assert_each_once_in_its_partition(stream, P, [event.id for event in events])


def test_a_relay_whose_partition_was_taken_over_publishes_nothing_more_into_it(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    a = relay(store, stream, clock, "a")
    a.run_once()
    # a stalls past its lease; b takes every partition and publishes.
    clock.advance(2 * LEASE)
    b = relay(store, stream, clock, "b")
    events = insert_partitioned_events(store, P, gateways=10, per_gateway=2, at=clock())
    b.run_once()
    # a wakes up believing nothing: its renewals fail, so it publishes nothing.
    a.run_once()
    turns(clock, b, count=4)
    assert_each_once_in_its_partition(stream, P, [event.id for event in events])


def test_an_event_without_a_partition_is_parked_by_the_owner_of_partition_0(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    [event] = insert_partitioned_events(store, P, gateways=1, per_gateway=1, at=clock())
    store.collection(OUTBOX).update_many({}, {"$unset": {"partition": ""}})
    turns(clock, relay(store, stream, clock, "a"), count=2)

    [document] = store.collection(OUTBOX).find({"_id": event.id})
    assert document["parked"] is True and document["published_at"] is None
    assert "outbox init" in document["last_error"]
    assert not any(partition_entries(stream, P).values())


def test_a_partition_fenced_by_a_newer_token_is_held_back_and_handed_over_not_published(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    a = relay(store, stream, clock, "a")
    a.run_once()
    ownership = a.lease.ownership  # type: ignore[union-attr]
    events = insert_partitioned_events(store, P, gateways=20, per_gateway=1, at=clock())
    fenced = events[0].partition
    assert fenced is not None
    # Another relay, with a newer token for that partition, has published into its stream.
    newer = (ownership.token(fenced) or 0) + 1
    other = OutboxEvent.for_gateway("gw_other", EventType.CREATED, version=1, at=clock())
    partition_stream = stream.with_config(
        StreamConfig(stream=keys.partition_stream(STREAM, fenced))
    )
    partition_stream.publish([other], token=newer)

    a.run_once()

    entries = partition_entries(stream, P)
    assert [fields["event_id"] for fields in entries[fenced]] == [other.id]
    assert fenced not in ownership.owned()
    left = store.collection(OUTBOX).find({"published_at": None})
    assert {document["partition"] for document in left} == {fenced}
    assert all(entries[n] for n in range(P) if n != fenced)


def test_an_event_stamped_with_another_partition_than_its_gateways_is_parked(
    store: MemoryStore, stream: EventStream, clock: FakeClock
) -> None:
    [event] = insert_partitioned_events(store, P, gateways=1, per_gateway=1, at=clock())
    assert event.partition is not None
    stale = (event.partition + 1) % P  # stamped by a writer that still used another P
    store.collection(OUTBOX).update_many({}, {"$set": {"partition": stale}})
    turns(clock, relay(store, stream, clock, "a"), count=2)

    [document] = store.collection(OUTBOX).find({"_id": event.id})
    assert document["parked"] is True and "outbox init" in document["last_error"]
    assert not any(partition_entries(stream, P).values())
