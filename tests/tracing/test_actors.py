"""Who made each change: the actor of every caller kind, on the outbox event, the stream entry,
the gateway (`created_by`, `updated_by`) and in `outbox gateway timeline`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from outbox.domain.actors import (
    check_actor,
    cli_actor,
    local_user,
    provisioner_actor,
    python_actor,
    token_actor,
)
from outbox.domain.errors import InvalidInput
from outbox.domain.events import EventType
from outbox.store.memory.store import MemoryStore
from outbox.writer import Writer
from tests.support.cli import invoke_outbox
from tests.support.clock import FakeClock
from tests.support.world import World


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=5)
    yield world
    world.close()


@pytest.mark.parametrize(
    "value",
    ["cli:alice@laptop", "token:ci-deployer", "provisioner:host-1-4242", "python:svc@pod-7"],
)
def test_an_actor_is_a_kind_and_a_name(value: str) -> None:
    assert check_actor(value) == value


@pytest.mark.parametrize(
    "value", ["", "alice", ":alice", "cli:", "cli:alice smith", "CLI:alice", "x:" + "a" * 200]
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not KIND:NAME"):
        check_actor(value)


def test_the_default_actors_name_this_user_and_host() -> None:
    assert cli_actor() == f"cli:{local_user()}"
    assert python_actor() == f"python:{local_user()}"
    assert "@" in local_user()
    assert token_actor("ci") == "token:ci"


def test_a_consumer_name_with_spaces_still_makes_one_word() -> None:
    assert provisioner_actor(" night shift 2 ") == "provisioner:night-shift-2"


def test_a_writer_refuses_an_actor_that_is_not_kind_and_name() -> None:
    with pytest.raises(InvalidInput, match="is not KIND:NAME"):
        Writer(MemoryStore(), actor="alice")


def test_the_actor_of_each_caller_kind_is_on_the_stream_entry_the_gateway_and_the_timeline(
    world: World,
) -> None:
    # Given one gateway changed by the library, the HTTP API's writer, the command line (as
    # itself, then with --actor) and the provisioner
    world.writer.create("edge", {"image": "nginx:1.27"})  # python:USER@HOST
    world.settle()
    world.writer.with_actor(token_actor("ci")).update("edge", replicas=2)
    world.settle()
    stopped = invoke_outbox(world.store, "gateway", "stop", "edge")
    assert stopped.exit_code == 0, stopped.output
    world.settle()
    started = invoke_outbox(world.store, "gateway", "start", "edge", "--actor", "cli:release-bot")
    assert started.exit_code == 0, started.output
    world.settle()

    # Then every stream entry names who made its change
    by_type = [(fields["type"], fields["actor"]) for _, fields in world.entries()]
    provisioner = "provisioner:p1"
    assert by_type == [
        ("GatewayCreated", python_actor()),
        ("GatewayStarting", provisioner),
        ("GatewayStarted", provisioner),
        ("GatewaySpecUpdated", "token:ci"),
        ("GatewayStarting", provisioner),
        ("GatewayStarted", provisioner),
        ("GatewayStopRequested", cli_actor()),
        ("GatewayStopping", provisioner),
        ("GatewayStopped", provisioner),
        ("GatewayStartRequested", "cli:release-bot"),
        ("GatewayStarting", provisioner),
        ("GatewayStarted", provisioner),
    ]
    # and so does the timeline, in its ACTOR column
    timeline = invoke_outbox(world.store, "gateway", "timeline", "edge")
    assert timeline.exit_code == 0, timeline.output
    header, *rows = [line.split() for line in timeline.stdout.splitlines()[1:14]]
    assert header == ["VERSION", "TIME", "TYPE", "ACTOR", "PAYLOAD"]
    assert [(row[3], row[4]) for row in rows] == by_type  # the TIME takes two words
    # and the gateway keeps its creator and the last intent's actor, not the provisioner's
    gateway = world.gateway("edge")
    assert (gateway.created_by, gateway.updated_by) == (python_actor(), "cli:release-bot")


def test_the_timeline_json_carries_each_events_actor(world: World) -> None:
    world.writer.with_actor(token_actor("ci")).create("edge", {"image": "nginx:1.27"})
    world.settle()

    result = invoke_outbox(world.store, "gateway", "timeline", "edge", "--json")

    assert result.exit_code == 0, result.output
    assert '"actor": "token:ci"' in result.stdout
    assert '"actor": "provisioner:p1"' in result.stdout


def test_an_actor_that_is_not_kind_and_name_is_refused_with_exit_2_and_nothing_written(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})

    result = invoke_outbox(world.store, "gateway", "stop", "edge", "--actor", "alice")

    assert result.exit_code == 2
    assert "is not KIND:NAME" in result.stderr
    assert [event.type for event in world.writer.events("edge")] == [EventType.CREATED]


def test_gateway_get_shows_the_last_intents_actor_and_the_creator(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    stopped = invoke_outbox(world.store, "gateway", "stop", "edge", "--actor", "cli:ops")
    assert stopped.exit_code == 0, stopped.output
    world.settle()  # the provisioner's Stopping and Stopped do not count

    result = invoke_outbox(world.store, "gateway", "get", "edge")

    assert result.exit_code == 0, result.output
    assert re.search(
        rf"changed by\s+cli:ops \(created by {re.escape(python_actor())}\)", result.stdout
    )
