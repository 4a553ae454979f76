"""Crashes at the worst moments: every event still reaches the stream exactly once."""

from __future__ import annotations

import pytest

from outbox.store.memory.store import MemoryStore
from outbox.stream import EventStream
from relay.daemon import Relay
from tests.support.clock import FakeClock
from tests.support.relay import (
    MakeRelay,
    assert_each_once,
    assert_gateway_order,
    insert_events,
    publisher_for,
    relay_settings,
    stream_ids,
    unpublished,
)
from tests.support.relay_faults import Crash, CrashBeforeMark, CrashMidBatch


def drain(relay: Relay, limit: int = 1000) -> None:
    for _ in range(limit):
        if not relay.run_once().more:
            return
    raise AssertionError("the relay kept finding work")


def restart(make_relay: MakeRelay, store: MemoryStore, clock: FakeClock) -> Relay:
    """A new process: the dead one never released its lease, so wait for it to expire."""
    clock.advance(relay_settings().lease_seconds)
    return make_relay(store, relay_id="relay-restarted", clock=clock)


def test_a_crash_between_publish_and_mark_publishes_nothing_twice(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    # Given 250 events and a relay that dies after its second batch reached Redis
    events = insert_events(memory_store, per_gateway=25, gateways=10, clock=clock)
    relay = make_relay(memory_store, reader=CrashBeforeMark(memory_store, on_mark=2), clock=clock)
    relay.run_once()
    with pytest.raises(Crash):
        relay.run_once()
    assert len(stream_ids(event_stream)) == 200
    assert len(unpublished(memory_store)) == 150, "the second batch is in Redis, not marked"

    # When a new relay starts
    survivor = restart(make_relay, memory_store, clock)
    drain(survivor)

    # Then each event is in the stream once, and the crashed batch was only marked
    assert_each_once(event_stream, [e.id for e in events])
    assert len(stream_ids(event_stream)) == 250
    assert survivor.totals.duplicates == 100
    assert unpublished(memory_store) == []
    assert_gateway_order(event_stream)


def test_a_crash_in_the_middle_of_a_batch_publishes_nothing_twice(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    events = insert_events(memory_store, per_gateway=25, gateways=10, clock=clock)
    dying = CrashMidBatch(publisher_for(event_stream, relay_settings()), batch=2, after=37)
    relay = make_relay(memory_store, publisher=dying, clock=clock)
    relay.run_once()
    with pytest.raises(Crash):
        relay.run_once()
    assert len(stream_ids(event_stream)) == 137

    survivor = restart(make_relay, memory_store, clock)
    drain(survivor)

    assert_each_once(event_stream, [e.id for e in events])
    assert len(stream_ids(event_stream)) == 250
    assert survivor.totals.duplicates == 37
    assert_gateway_order(event_stream)
