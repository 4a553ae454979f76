"""An entry added again out of order (`redelivered`, from `outbox relay unpark --out-of-order`)
is handled like any other: the provisioner is level-triggered, so an old event only makes it
look at the gateway as it is now."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbox.domain.model import Phase
from tests.support.clock import FakeClock
from tests.support.world import World


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=1)
    yield world
    world.close()


def test_a_redelivered_old_event_of_a_started_gateway_changes_nothing_and_is_acked(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    assert world.gateway("edge").phase is Phase.STARTED
    before = (world.gateway("edge").version, world.events("edge"))
    created = world.writer.events("edge")[0]

    [entry_id] = world.stream.redeliver([created])
    world.step(sweep=False)

    assert (world.gateway("edge").version, world.events("edge")) == before
    assert world.consumer("p1").claim_own_pending(count=10) == []
    assert world.stream.dead_letter_count() == 0
    assert entry_id in {entry for entry, _ in world.stream.entries()}


def test_a_redelivered_stop_request_of_a_gateway_started_again_does_not_stop_it(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.writer.stop("edge")
    world.settle()
    world.writer.start("edge")
    world.settle()
    stop_request = next(e for e in world.writer.events("edge") if e.type == "GatewayStopRequested")

    world.stream.redeliver([stop_request])
    world.settle()

    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == ("Running", Phase.STARTED)
    assert world.stream.dead_letter_count() == 0
