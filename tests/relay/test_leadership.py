"""Several relays: one publishes, a standby takes over when it dies, nothing twice or lost.

Time is a fake clock: the relays are driven turn by turn (`run_once()`), or `run()` with an
injected wait, never by sleeping.
"""

from __future__ import annotations

import logging

import pytest

from outbox.domain.clock import utcnow
from outbox.domain.events import EventType, OutboxEvent
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


def test_two_relays_at_once_publish_every_event_once(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    # Given two relays taking turns while events keep coming
    relays = [
        make_relay(memory_store, relay_id=name, batch_size=20, clock=clock) for name in ("a", "b")
    ]
    events = []
    for start in range(1, 31, 5):
        events += insert_events(memory_store, per_gateway=5, gateways=20, start=start, clock=clock)
        for _ in range(10):
            for relay in relays:
                relay.run_once()
        clock.advance(0.01)

    # Then no duplicate, no gap, order kept, and only one of them published anything
    assert not unpublished(memory_store)
    assert_each_once(event_stream, [e.id for e in events])
    assert_gateway_order(event_stream)
    assert sorted(relay.totals.published for relay in relays) == [0, len(events)]


def test_the_standby_takes_over_within_the_lease_time_when_the_leader_dies(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    leader = make_relay(memory_store, relay_id="leader", clock=clock)
    standby = make_relay(memory_store, relay_id="standby", clock=clock)
    first = insert_events(memory_store, per_gateway=1, gateways=5, clock=clock)
    assert leader.run_once().published == 5
    assert not standby.run_once().leader

    # The leader dies (it is never called again) and more events arrive.
    later = insert_events(memory_store, per_gateway=1, gateways=5, clock=clock, start=2)
    clock.advance(relay_settings().lease_seconds - 0.5)
    assert not standby.run_once().leader, "the lease has not expired yet"
    clock.advance(0.5)

    result = standby.run_once()

    assert result.leader and result.published == 5
    assert standby.metrics.registry.get_sample_value("outbox_relay_lease_holder") == 1
    assert_each_once(event_stream, [e.id for e in first + later])
    # The old leader, back from the dead, finds its lease gone and publishes nothing.
    insert_events(memory_store, per_gateway=1, gateways=5, clock=clock, start=3)
    assert not leader.run_once().leader


def test_a_relay_fenced_by_the_stream_stops_publishing_and_gives_up_its_lease(
    memory_store: MemoryStore,
    event_stream: EventStream,
    make_relay: MakeRelay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A relay with a newer lease token already published (e.g. this one stalled past expiry).
    insert_events(memory_store, per_gateway=1, gateways=3)
    newer = publisher_for(event_stream, relay_settings())
    relay = make_relay(memory_store, publisher=newer)
    newer_event = OutboxEvent(
        type=EventType.CREATED, aggregate_id="gw_newer", version=1, occurred_at=utcnow()
    )
    event_stream.publish([newer_event], token=2**62)

    with caplog.at_level(logging.WARNING, logger="relay"):
        result = relay.run_once()

    assert not result.leader
    assert result.wait == min(relay_settings().poll_max, relay_settings().lease_seconds / 4)
    assert [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()]
    assert not relay.lease.valid()
    assert relay.metrics.registry.get_sample_value("outbox_relay_lease_holder") == 0
    assert len(unpublished(memory_store)) == 3
    assert stream_ids(event_stream) == [newer_event.id], "none of this relay's events"


def test_stop_finishes_the_batch_and_releases_the_lease(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    settings = relay_settings()
    waits: list[float] = []
    relay = Relay(
        memory_store,
        publisher_for(event_stream, settings),
        settings,
        clock=clock,
        monotonic=lambda: clock().timestamp(),
        wait=lambda seconds: waits.append(seconds) or relay.stop(),  # stop after the first turn
    )
    events = insert_events(memory_store, per_gateway=3, gateways=3, clock=clock)

    relay.run()

    assert len(waits) == 1, "the batch in flight finished, then nothing more"
    holder = relay.lease.holder()
    assert holder is not None and holder.owner is None, "released, not left to expire"
    assert_each_once(event_stream, [e.id for e in events])
    # A standby can start at once.
    assert make_relay(memory_store, relay_id="next", clock=clock).run_once().leader
