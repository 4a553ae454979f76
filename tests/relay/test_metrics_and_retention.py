"""What the relay reports, and how long published events stay in the in-memory store."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import EventStream
from tests.support.clock import FakeClock
from tests.support.relay import MakeRelay, insert_events, relay_settings
from tests.support.stores import DelegatingStore


def test_metrics_show_throughput_latency_backlog_and_leadership(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    insert_events(memory_store, per_gateway=5, gateways=4, clock=clock)  # 20 events
    clock.advance(2)
    relay = make_relay(memory_store, clock=clock, batch_size=8)
    sample = relay.metrics.registry.get_sample_value

    relay.run_once()

    assert sample("outbox_relay_published_total") == 8
    assert sample("outbox_relay_commit_to_stream_seconds_count") == 8
    assert sample("outbox_relay_commit_to_stream_seconds_bucket", {"le": "1.0"}) == 0
    assert sample("outbox_relay_commit_to_stream_seconds_bucket", {"le": "2.5"}) == 8
    assert sample("outbox_relay_backlog") == 0, "not counted yet: a full count is slow"
    assert sample("outbox_relay_oldest_unpublished_age_seconds") >= 2
    assert sample("outbox_relay_lease_holder") == 1
    assert sample("outbox_relay_lease_token") == relay.lease.token

    clock.advance(relay_settings().stats_interval)
    relay.run_once()
    assert sample("outbox_relay_backlog") == 12, "counted once per stats interval"
    relay.run_once()

    assert sample("outbox_relay_published_total") == 20
    assert sample("outbox_relay_backlog") == 0
    assert sample("outbox_relay_oldest_unpublished_age_seconds") == 0
    assert sample("outbox_relay_parked_events") == 0


def test_the_in_memory_store_drops_published_events_after_the_retention(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    relay = make_relay(memory_store, clock=clock, retention=3600)
    old = insert_events(memory_store, per_gateway=1, gateways=3, clock=clock)
    relay.run_once()  # published now

    clock.advance(3601)
    recent = insert_events(memory_store, per_gateway=1, gateways=3, clock=clock, start=2)
    relay.run_once()  # purges run once a minute: this one is due

    kept = {document["_id"] for document in memory_store.collection(OUTBOX).find({})}
    assert kept == {e.id for e in recent}
    assert not kept & {e.id for e in old}
    assert clock.now - timedelta(seconds=3600) > old[0].occurred_at


class CountingPurges(DelegatingStore):
    """A store that notes when the relay asks it to purge (and purges nothing, as MongoDB's TTL
    index leaves nothing to do)."""

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.purges: list[datetime] = []

    def purge_published(self, *, before: datetime) -> int:
        self.purges.append(before)
        return 0


@pytest.mark.parametrize(("retention", "expected"), [(0, 0), (3600, 2)])
def test_the_relay_asks_the_store_to_purge_once_a_minute_unless_kept_forever(
    make_relay: MakeRelay,
    clock: FakeClock,
    retention: int,
    expected: int,
) -> None:
    store = CountingPurges()
    relay = make_relay(store, clock=clock, retention=retention)
    insert_events(store, per_gateway=1, gateways=2, clock=clock)

    for _ in range(4):  # two minutes: two purges are due
        relay.run_once()
        clock.advance(30)

    assert len(store.purges) == expected
    assert all(clock.now - before > timedelta(seconds=retention) for before in store.purges)
