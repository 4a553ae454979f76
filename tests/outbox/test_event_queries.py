"""The outbox queries of the `Events` repository, against every store adapter: what waits for
the relay, what is parked, and the counts `outbox status` shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outbox.store.port import OUTBOX, Store
from outbox.store.repository import Events

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(gateway: str, version: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"ev_{gateway}_{version}",
        "type": "GatewaySpecUpdated",
        "aggregate_id": gateway,
        "version": version,
        "payload": {},
        "occurred_at": NOW + timedelta(seconds=version * 10 + (gateway == "b")),
        **fields,
    }


@pytest.fixture
def events(any_store: Store) -> Events:
    """Given: gateway a with v1 published, v2 without `published_at`, v3 null, v4 parked;
    gateway b with v1 and v2 unpublished."""
    any_store.collection(OUTBOX).insert_many(
        [
            event("a", 1, published_at=NOW),
            event("a", 2),
            event("a", 3, published_at=None),
            event("a", 4, published_at=None, parked=True, attempts=5),
            event("b", 1, published_at=None),
            event("b", 2, published_at=None),
        ]
    )
    return Events(any_store)


def ids(readings: Any) -> list[str]:
    return [read.id for read in readings.events]


def test_the_backlog_counts_unpublished_events_that_are_not_parked(events: Events) -> None:
    assert events.backlog() == 4
    assert events.parked_count() == 1
    assert events.oldest_unpublished_at() == NOW + timedelta(seconds=11)


def test_unpublished_events_come_in_commit_order_leaving_out_blocked_versions(
    events: Events,
) -> None:
    assert ids(events.unpublished(10)) == ["ev_b_1", "ev_a_2", "ev_b_2", "ev_a_3"]
    assert ids(events.unpublished(2)) == ["ev_b_1", "ev_a_2"]
    assert ids(events.unpublished(10, leaving_out={"a": 3, "b": 1})) == ["ev_a_2"]
    assert ids(events.unpublished(10, leaving_out={"b": 2})) == ["ev_b_1", "ev_a_2", "ev_a_3"]


def test_an_event_holds_up_the_later_unpublished_ones_of_its_gateway(events: Events) -> None:
    assert events.waiting_behind("ev_a_2", "a", 2) == 2
    assert events.waiting_behind("ev_b_1", "b", None) == 1
    assert events.waiting_behind("x", None, None) == 0


def test_only_an_unpublished_unparked_event_can_be_parked(events: Events) -> None:
    assert not events.park("ev_a_1")  # published
    assert not events.park("ev_a_4")  # parked already
    assert events.park("ev_a_3", reason="unreadable")

    assert [read.id for read in events.parked()] == ["ev_a_3", "ev_a_4"]


def test_unparking_gives_fresh_attempts(events: Events) -> None:
    assert events.count_rejection("ev_b_1", "OOM") == 1
    assert events.count_rejection("ev_a_1", "OOM") is None  # published meanwhile

    assert events.unpark() == 1
    assert events.parked_count() == 0
    assert events.backlog() == 5
