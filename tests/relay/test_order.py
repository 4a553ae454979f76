"""Per-gateway order: concurrent writers, batch limits, parked events, and batches that prove
their own order."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from outbox.domain.clock import utcnow
from outbox.domain.errors import OutboxError
from outbox.domain.event_documents import Unreadable
from outbox.domain.events import EventType, OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX, Store
from outbox.stream import EventStream
from outbox.writer import Writer
from relay import ordering
from relay.daemon import Relay
from relay.outbox_reader import OutboxReader
from tests.support.clock import FakeClock
from tests.support.relay import (
    MakeRelay,
    assert_each_once,
    assert_gateway_order,
    insert_events,
    publisher_for,
    relay_settings,
    stream_entries,
    unpublished,
)
from tests.support.relay_faults import Rejecting


def drain(relay: Relay) -> None:
    for _ in range(10_000):
        if not relay.run_once().more:
            return
    raise AssertionError("the relay kept finding work")


def test_concurrent_writers_reach_the_stream_in_version_order_per_gateway(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay
) -> None:
    # Given four writers toggling the same six gateways at the same time, and a relay whose
    # batch limit (7) keeps cutting through one gateway's versions while they write
    writer = Writer(memory_store)
    gateways = [writer.create(f"edge-{n}", {"image": "nginx:1.27"}).id for n in range(6)]
    relay = make_relay(memory_store, batch_size=7)

    def toggle(rounds: int) -> None:
        for _ in range(rounds):
            for gateway in gateways:
                for action in (writer.stop, writer.start):
                    # Another writer may have toggled it first: refused, nothing written.
                    with contextlib.suppress(OutboxError):
                        action(gateway)

    writers = [threading.Thread(target=toggle, args=(15,)) for _ in range(4)]
    for thread in writers:
        thread.start()
    while any(thread.is_alive() for thread in writers):
        relay.run_once()
    drain(relay)

    # Then every committed event is in the stream once, each gateway's in version order
    committed = memory_store.collection(OUTBOX).find({})
    assert len(committed) > 6 * 15
    assert_each_once(event_stream, [document["_id"] for document in committed])
    assert_gateway_order(event_stream)
    for gateway in gateways:
        versions = [
            int(e["version"]) for e in stream_entries(event_stream) if e["aggregate_id"] == gateway
        ]
        assert versions == sorted(e.version for e in writer.events(gateway))


def test_a_batch_limit_inside_one_gateways_versions_keeps_the_order(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay
) -> None:
    # Given one gateway with 10 versions all committed in the same millisecond (the order of
    # equal timestamps is arbitrary), fetched 3 at a time
    events = insert_events(memory_store, per_gateway=10, gateways=1)
    memory_store.collection(OUTBOX).update_many(
        {}, {"$set": {"occurred_at": events[0].occurred_at}}
    )
    relay = make_relay(memory_store, batch_size=3)

    drain(relay)

    assert [int(e["version"]) for e in stream_entries(event_stream)] == list(range(1, 11))


def test_a_parked_event_holds_up_only_its_own_gateway(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    # Given gateway 0's version 2 is rejected by Redis every time, and more events behind it
    # than fit in a batch
    events = insert_events(memory_store, per_gateway=30, gateways=3)
    poison = next(e for e in events if e.aggregate_id == "gw_0000" and e.version == 2)
    publisher = Rejecting(publisher_for(event_stream, relay_settings()), {poison.id})
    relay = make_relay(
        memory_store, publisher=publisher, batch_size=10, max_publish_attempts=3, clock=clock
    )

    for _ in range(30):
        relay.run_once()

    # Then it is parked after three attempts, with its error
    document = memory_store.collection(OUTBOX).find_one({"_id": poison.id})
    assert document is not None
    assert (document["parked"], document["attempts"], document["published_at"]) == (True, 3, None)
    assert "exceeds maximum" in document["last_error"]
    assert publisher.attempts == 3
    # and gateway 0 stops at version 1, while the other gateways are complete
    published = {(e["aggregate_id"], int(e["version"])) for e in stream_entries(event_stream)}
    assert {v for g, v in published if g == "gw_0000"} == {1}
    assert {v for g, v in published if g != "gw_0000"} == set(range(1, 31))
    assert len(unpublished(memory_store)) == 29
    assert relay.metrics.registry.get_sample_value("outbox_relay_parked_events") == 1
    assert_gateway_order(event_stream)

    # When an operator releases it (Redis accepts it now), the gateway resumes in order
    publisher.rejected.clear()
    memory_store.collection(OUTBOX).update_one(
        {"_id": poison.id}, {"$set": {"parked": False, "attempts": 0}}
    )
    clock.advance(relay_settings().stats_interval)  # the relay re-reads the parked events
    drain(relay)
    assert unpublished(memory_store) == []
    assert_each_once(event_stream, [e.id for e in events])
    assert_gateway_order(event_stream)


class CountingReader(OutboxReader):
    """Counts the order checks that reach the outbox (a scan of the backlog on nx-27017)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.asked: list[set[str]] = []

    def unpublished_below(self, batch: Sequence[OutboxEvent]) -> list[ordering.Row | Unreadable]:
        if batch:
            self.asked.append({event.aggregate_id for event in batch})
        return super().unpublished_below(batch)


def test_batches_that_prove_their_order_do_not_ask_the_outbox(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay
) -> None:
    # Given a backlog whose batches hold each gateway's next versions without a gap
    events = insert_events(memory_store, per_gateway=6, gateways=4)
    reader = CountingReader(memory_store)
    relay = make_relay(memory_store, reader=reader, batch_size=8)

    drain(relay)

    # Then every event went in order, and no batch needed the outbox's answer
    assert_each_once(event_stream, [e.id for e in events])
    assert_gateway_order(event_stream)
    assert reader.asked == []


def test_an_event_below_the_batch_behind_a_late_clock_still_goes_first(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay
) -> None:
    # Given gateway a's v1 published, then v2 committed by a writer whose clock is behind, so
    # that v3 sorts first and fills the batch alone
    reader = CountingReader(memory_store)
    relay = make_relay(memory_store, reader=reader, batch_size=1)
    at = utcnow() - timedelta(minutes=5)
    add_event(memory_store, "gw_a", 1, at)
    drain(relay)
    add_event(memory_store, "gw_a", 2, at + timedelta(seconds=2))
    add_event(memory_store, "gw_a", 3, at + timedelta(seconds=1))

    drain(relay)

    # Then the gap above the settled v1 sends the relay to the outbox, which brings v2 in first
    assert reader.asked == [{"gw_a"}]
    assert [int(e["version"]) for e in stream_entries(event_stream)] == [1, 2, 3]


def test_an_event_parked_below_the_batch_still_holds_its_gateway_back(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay
) -> None:
    # Given gateways a and b settled at v1, then a's v2 parked behind the relay's back (by a
    # relay that has since lost its lease), and v3 of both waiting
    relay = make_relay(memory_store, batch_size=10)
    at = utcnow() - timedelta(minutes=5)
    for gateway in ("gw_a", "gw_b"):
        add_event(memory_store, gateway, 1, at)
    drain(relay)
    parked = add_event(memory_store, "gw_a", 2, at + timedelta(seconds=1))
    memory_store.collection(OUTBOX).update_one({"_id": parked}, {"$set": {"parked": True}})
    for gateway in ("gw_a", "gw_b"):
        add_event(memory_store, gateway, 3 if gateway == "gw_a" else 2, at + timedelta(seconds=2))

    drain(relay)

    # Then a's v3 waits for its parked v2, and b goes on
    published = [(e["aggregate_id"], int(e["version"])) for e in stream_entries(event_stream)]
    assert published == [("gw_a", 1), ("gw_b", 1), ("gw_b", 2)]
    assert [d["version"] for d in unpublished(memory_store)] == [2, 3]


def add_event(store: Store, gateway: str, version: int, at: datetime) -> str:
    event = OutboxEvent.for_gateway(gateway, EventType.SPEC_UPDATED, version=version, at=at)
    store.collection(OUTBOX).insert_one(event.to_document())
    return event.id
