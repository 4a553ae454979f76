"""Outbox documents that are not events: every reader survives them, the relay parks them where
they lie with their reason, and they hold up only their own gateway."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from outbox.domain.event_documents import Unreadable, read_event
from outbox.domain.events import EventType, OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX, Store
from outbox.stream import EventStream
from relay.outbox_reader import OutboxReader
from tests.support.cli import invoke_outbox
from tests.support.clock import FakeClock
from tests.support.relay import MakeRelay, insert_events, relay_settings, stream_entries, stream_ids

KINDS = ("objectid-id", "no-version", "unknown-type")


def malformed(
    kind: str, clock: FakeClock, *, gateway: str = "gw_bad", version: int = 1, seconds: float = 0
) -> dict[str, Any]:
    """An outbox document as another service, an older version or a hand-made fix writes it."""
    document = OutboxEvent.for_gateway(
        gateway, EventType.CREATED, version=version, at=clock.now + timedelta(seconds=seconds)
    ).to_document()
    if kind == "objectid-id":
        document["_id"] = ObjectId()
    elif kind == "no-version":
        del document["version"]
    else:
        document["type"] = "GatewayRenamed"
    return document


def given(store: Store, document: dict[str, Any]) -> str:
    """Inserts the document; returns the id readers name it by."""
    store.collection(OUTBOX).insert_one(dict(document))
    return str(document["_id"])


def stored(store: Store, name: str) -> dict[str, Any]:
    (document,) = [d for d in store.collection(OUTBOX).find({}) if str(d["_id"]) == name]
    return document


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "gateway", "version", "reason"),
    [
        ("objectid-id", "gw_bad", 1, "_id is of type ObjectId, not a string event id"),
        ("no-version", "gw_bad", None, "version missing"),
        ("unknown-type", "gw_bad", 1, "unknown type 'GatewayRenamed'"),
    ],
)
def test_a_document_that_is_no_event_reads_as_unreadable_with_what_can_be_read(
    clock: FakeClock, kind: str, gateway: str, version: int | None, reason: str
) -> None:
    document = malformed(kind, clock)

    read = read_event(document)

    assert isinstance(read, Unreadable)
    assert (read.id, read.gateway_id, read.version) == (str(document["_id"]), gateway, version)
    assert read.reason == f"unreadable outbox document: {reason}"


def test_an_objectid_is_named_by_its_24_hex_digits(clock: FakeClock) -> None:
    document = malformed("objectid-id", clock)

    read = read_event(document)

    assert isinstance(read, Unreadable)
    assert read.id == document["_id"].binary.hex() and len(read.id) == 24
    assert read.key == document["_id"]


# -- each reader --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_fetch_returns_the_events_and_names_the_unreadable_documents(
    memory_store: MemoryStore, clock: FakeClock, kind: str
) -> None:
    events = insert_events(memory_store, per_gateway=2, gateways=2, clock=clock)
    bad = given(memory_store, malformed(kind, clock, seconds=0.0005))

    fetched = OutboxReader(memory_store).fetch(10)

    assert [e.id for e in fetched.events] == [e.id for e in events]
    assert [u.id for u in fetched.unreadable] == [bad]


def test_the_order_check_names_a_row_that_is_no_event(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    (first, second) = insert_events(memory_store, per_gateway=2, gateways=1, clock=clock)
    # It takes the place of the first event: versions of one gateway are unique.
    memory_store.collection(OUTBOX).delete_many({"_id": first.id})
    bad = given(memory_store, malformed("objectid-id", clock, gateway="gw_0000", version=1))

    rows = OutboxReader(memory_store).unpublished_below([second])

    assert [(type(row).__name__, row.id) for row in rows] == [("Unreadable", bad)]


def test_look_up_by_ids_names_a_document_that_is_no_event(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    (event,) = insert_events(memory_store, per_gateway=1, gateways=1, clock=clock)
    bad = given(memory_store, malformed("unknown-type", clock))

    found = OutboxReader(memory_store).by_ids([event.id, bad])

    assert [e.id for e in found.events] == [event.id]
    assert [u.id for u in found.unreadable] == [bad]


@pytest.mark.parametrize("kind", KINDS)
def test_parked_and_unpark_name_an_unreadable_document_by_its_id(
    memory_store: MemoryStore, clock: FakeClock, kind: str
) -> None:
    reader = OutboxReader(memory_store)
    bad = given(memory_store, malformed(kind, clock))
    reader.park_unreadable(reader.fetch(10).unreadable)

    (parked,) = reader.parked()
    assert isinstance(parked, Unreadable) and parked.id == bad
    assert stored(memory_store, bad)["last_error"] == parked.reason

    assert reader.unpark([bad]) == 1
    assert reader.parked() == []
    assert stored(memory_store, bad)["parked"] is False


# -- the relay ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_relay_parks_an_unreadable_document_and_publishes_everything_else(
    memory_store: MemoryStore,
    event_stream: EventStream,
    make_relay: MakeRelay,
    clock: FakeClock,
    kind: str,
) -> None:
    bad = given(memory_store, malformed(kind, clock))
    events = insert_events(memory_store, per_gateway=3, gateways=4, clock=clock)
    relay = make_relay(memory_store, clock=clock, batch_size=5)

    results = [relay.run_once() for _ in range(4)]

    assert sorted(stream_ids(event_stream)) == sorted(e.id for e in events)
    document = stored(memory_store, bad)
    assert document["parked"] is True
    assert document["last_error"].startswith("unreadable outbox document: ")
    assert results[0].parked == [bad]
    assert relay.metrics.registry.get_sample_value("outbox_relay_parked_events") == 1


def test_it_holds_up_only_its_own_gateways_later_versions(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    # Given gw_0000 v1..v4 and gw_0001 v1..v4, where gw_0000's v3 is no event
    events = insert_events(memory_store, per_gateway=4, gateways=2, clock=clock)
    v3 = next(e for e in events if (e.aggregate_id, e.version) == ("gw_0000", 3))
    memory_store.collection(OUTBOX).update_one({"_id": v3.id}, {"$set": {"type": "Renamed"}})
    relay = make_relay(memory_store, clock=clock, batch_size=3)

    for _ in range(6):
        relay.run_once()

    published = [(f["aggregate_id"], int(f["version"])) for f in stream_entries(event_stream)]
    assert [v for g, v in published if g == "gw_0000"] == [1, 2]
    assert [v for g, v in published if g == "gw_0001"] == [1, 2, 3, 4]
    assert stored(memory_store, v3.id)["parked"] is True


def test_a_lower_version_that_sorts_after_it_still_goes(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    # Given gw_a's v2 is no event, and gw_a's v1 was committed with a clock that lagged far
    # behind: it sorts after everything else, beyond a full batch.
    given(memory_store, malformed("unknown-type", clock, gateway="gw_a", version=2))
    insert_events(memory_store, per_gateway=1, gateways=6, clock=clock)
    late = OutboxEvent.for_gateway("gw_a", EventType.CREATED, version=1, at=clock.advance(60))
    memory_store.collection(OUTBOX).insert_one(late.to_document())
    relay = make_relay(memory_store, clock=clock, batch_size=3)

    for _ in range(5):
        relay.run_once()

    assert late.id in stream_ids(event_stream)


def test_without_a_version_it_holds_up_all_of_its_gateways_unpublished_events(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    given(memory_store, malformed("no-version", clock, gateway="gw_0000"))
    insert_events(memory_store, per_gateway=3, gateways=2, clock=clock)
    relay = make_relay(memory_store, clock=clock, batch_size=4)

    for _ in range(4):
        relay.run_once()

    published = {f["aggregate_id"] for f in stream_entries(event_stream)}
    assert published == {"gw_0001"}
    assert len(stream_ids(event_stream)) == 3


def test_unpark_retries_it_once_fixed_and_parks_it_again_while_still_unreadable(
    memory_store: MemoryStore, event_stream: EventStream, make_relay: MakeRelay, clock: FakeClock
) -> None:
    events = insert_events(memory_store, per_gateway=3, gateways=1, clock=clock)
    v2 = events[1]
    outbox = memory_store.collection(OUTBOX)
    outbox.update_one({"_id": v2.id}, {"$set": {"type": "Renamed"}})
    relay = make_relay(memory_store, clock=clock)
    relay.run_once()
    assert stream_ids(event_stream) == [events[0].id]

    # Unparked while still broken: parked again, with its reason
    OutboxReader(memory_store).unpark([v2.id])
    clock.advance(relay_settings().stats_interval)
    relay.run_once()
    assert stored(memory_store, v2.id)["parked"] is True
    assert "unknown type 'Renamed'" in stored(memory_store, v2.id)["last_error"]

    # Fixed and unparked: published, then the event it held up
    outbox.update_one({"_id": v2.id}, {"$set": {"type": str(EventType.STOP_REQUESTED)}})
    OutboxReader(memory_store).unpark([v2.id])
    clock.advance(relay_settings().stats_interval)
    relay.run_once()
    relay.run_once()
    assert stream_ids(event_stream) == [e.id for e in events]


def test_outbox_relay_unpark_takes_an_objectid_by_its_hex_digits(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    reader = OutboxReader(memory_store)
    bad = given(memory_store, malformed("objectid-id", clock))
    reader.park_unreadable(reader.fetch(10).unreadable)

    released = invoke_outbox(memory_store, "relay", "unpark", bad)

    assert released.exit_code == 0, released.output
    assert "released 1 parked event" in released.output
    assert stored(memory_store, bad)["parked"] is False
