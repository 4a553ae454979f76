"""Entries and documents written before actors and traces existed are handled as any other:
published, consumed, provisioned and shown, on the in-memory stream and on redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbox.domain.events import OPTIONAL_FIELDS, STREAM_FIELDS, EventType
from outbox.domain.model import Phase
from outbox.store.port import GATEWAYS, OUTBOX
from tests.support.cli import invoke_outbox
from tests.support.clock import FakeClock
from tests.support.world import World

GATEWAY_FIELDS = ("created_by", "updated_by", "traceparent", "tracestate")


@pytest.fixture(params=["memory", "redis-server"])
def world(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[World]:
    redis = request.getfixturevalue("redis_client") if request.param == "redis-server" else None
    world = World(clock=clock, rollout_seconds=5, redis=redis)
    yield world
    world.close()


def written_by_an_older_version(world: World) -> None:
    """Take from every document what the older version did not write."""
    world.store.collection(OUTBOX).update_many({}, {"$unset": dict.fromkeys(OPTIONAL_FIELDS, "")})
    world.store.collection(GATEWAYS).update_many({}, {"$unset": dict.fromkeys(GATEWAY_FIELDS, "")})


def test_an_event_without_actor_or_trace_is_published_provisioned_and_shown(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    written_by_an_older_version(world)

    world.settle()

    gateway = world.gateway("edge")
    assert gateway.phase is Phase.STARTED
    assert (gateway.created_by, gateway.updated_by, gateway.traceparent) == (None, None, None)
    created, starting, started = (fields for _, fields in world.entries())
    assert set(created) == set(STREAM_FIELDS)  # no empty optional fields, just none
    assert starting["actor"] == started["actor"] == "provisioner:p1"
    assert world.dead_letters() == []
    timeline = invoke_outbox(world.store, "gateway", "timeline", "edge")
    assert timeline.exit_code == 0, timeline.output
    first = next(line for line in timeline.stdout.splitlines() if "GatewayCreated" in line)
    assert first.split()[4] == "-"  # ACTOR


def test_an_entry_from_an_older_relay_is_handled_as_any_other(world: World) -> None:
    created = world.writer.create("edge", {"image": "nginx:1.27"})
    world.store.collection(OUTBOX).update_many({}, {"$set": {"published_at": world.clock()}})
    world.add_entry(
        {
            "event_id": "ev_older",
            "type": str(EventType.CREATED),
            "aggregate_type": "gateway",
            "aggregate_id": created.id,
            "version": "1",
            "occurred_at": "2026-01-01T12:00:00Z",
            "payload": "{}",
        }
    )

    world.settle()

    assert world.gateway("edge").phase is Phase.STARTED
    assert world.dead_letters() == []
    assert world.pending() == 0


def test_a_malformed_trace_on_a_gateway_starts_a_new_trace_and_the_change_goes_on(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.store.collection(GATEWAYS).update_many({}, {"$set": {"traceparent": "00-not-a-trace"}})

    world.settle()

    assert world.gateway("edge").phase is Phase.STARTED
