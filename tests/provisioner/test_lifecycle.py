"""The whole lifecycle, end to end: writer → relay → real Redis → provisioner → memory cluster.

The in-memory store and cluster, the in-memory stream, and a fake clock that lets rollouts
finish without waiting for them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbox.domain.events import EventType as E
from outbox.domain.model import Phase, State
from provisioner.manifests import object_names
from tests.support.clock import FakeClock
from tests.support.crashes import CrashingStore
from tests.support.world import World


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=5)
    yield world
    world.close()


def kinds_in_cluster(world: World, name: str) -> set[str]:
    names = object_names(name)
    return {
        kind
        for kind, object_name in names.items()
        if world.cluster.get(kind, object_name) is not None
    }


def test_create_brings_a_gateway_to_started_with_its_environments_active(world: World) -> None:
    world.writer.create(
        "edge", {"image": "nginx:1.27", "host": "edge.example.com", "environments": ["dev", "prod"]}
    )

    world.step()
    assert world.gateway("edge").phase == Phase.STARTING
    assert kinds_in_cluster(world, "edge") == {"Deployment", "Service", "NetworkPolicy", "Ingress"}
    assert world.environments("edge") == {"dev": "Inactive", "prod": "Inactive"}

    world.settle()
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase, gateway.ever_started) == (
        State.RUNNING,
        Phase.STARTED,
        True,
    )
    assert world.environments("edge") == {"dev": "Active", "prod": "Active"}
    assert world.events("edge") == [E.CREATED, E.STARTING, E.STARTED]


def test_stop_removes_the_objects_and_deactivates_environments_and_start_brings_them_back(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27", "environments": ["prod"]})
    world.settle()

    world.writer.stop("edge")
    world.settle()
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert kinds_in_cluster(world, "edge") == set()
    assert world.environments("edge") == {"prod": "Inactive"}

    world.writer.start("edge")
    world.settle()
    assert world.gateway("edge").phase == Phase.STARTED
    assert kinds_in_cluster(world, "edge") == {"Deployment", "Service", "NetworkPolicy"}
    assert world.events("edge") == [
        E.CREATED,
        E.STARTING,
        E.STARTED,
        E.STOP_REQUESTED,
        E.STOPPING,
        E.STOPPED,
        E.START_REQUESTED,
        E.STARTING,
        E.STARTED,
    ]


def test_restart_rolls_the_pods_once_however_often_the_step_is_retried(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    deployment = object_names("edge")["Deployment"]
    assert world.cluster.rollouts[deployment] == 1

    world.writer.restart("edge")
    # The restart step dies twice after its apply and before its commit; each retry applies again.
    crashing = CrashingStore(world.store, crashes=2)
    daemon = world.provisioner()
    daemon._reconciler._store = crashing
    for _ in range(3):
        world.step()
    assert crashing.crashes == 0
    assert world.cluster.count("apply", kind="Deployment") >= 4  # create, plus three restart tries
    world.settle()

    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.RUNNING, Phase.STARTED)
    assert gateway.applied_restart_stamp == gateway.restart_stamp
    assert world.cluster.rollouts[deployment] == 2  # the first rollout and one restart
    assert world.events("edge")[3:] == [E.RESTART_REQUESTED, E.STARTING, E.STARTED]


def test_update_while_started_rolls_out_the_new_image(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()

    world.writer.update("edge", image="nginx:1.28")
    world.settle()

    gateway = world.gateway("edge")
    assert gateway.phase == Phase.STARTED and gateway.applied_spec_version == 2
    live = world.cluster.get("Deployment", object_names("edge")["Deployment"])
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_update_while_starting_applies_the_newer_spec_and_asks_for_a_start_again(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.step()
    starting = world.gateway("edge")
    assert starting.phase == Phase.STARTING

    world.clock.advance(10)
    world.writer.update("edge", image="nginx:1.28")
    world.step()
    gateway = world.gateway("edge")
    assert gateway.phase == Phase.STARTING
    assert gateway.phase_changed_at == starting.phase_changed_at  # the phase clock stays
    assert gateway.start_requested_at == world.clock()  # the start deadline counts from here
    live = world.cluster.get("Deployment", object_names("edge")["Deployment"])
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

    world.settle()
    assert world.gateway("edge").phase == Phase.STARTED
    assert world.gateway("edge").applied_spec_version == 2


def test_removing_the_host_deletes_the_ingress(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    world.settle()
    assert "Ingress" in kinds_in_cluster(world, "edge")

    world.writer.update("edge", host=None)
    world.settle()
    assert kinds_in_cluster(world, "edge") == {"Deployment", "Service", "NetworkPolicy"}
    assert world.gateway("edge").phase == Phase.STARTED


def test_delete_removes_everything_and_frees_the_name_and_host(world: World) -> None:
    world.writer.create(
        "edge", {"image": "nginx:1.27", "host": "edge.example.com", "environments": ["prod"]}
    )
    world.settle()

    world.writer.delete("edge")
    world.settle()
    deleted = world.gateway(world.writer.list()[0].id)
    assert (deleted.state, deleted.phase) == (State.DELETED, Phase.DELETED)
    assert kinds_in_cluster(world, "edge") == set()
    assert world.environments(deleted.id) == {}
    assert world.events(deleted.id)[-3:] == [E.DELETE_REQUESTED, E.DELETING, E.DELETED]

    again = world.writer.create("edge", {"image": "nginx:1.28", "host": "edge.example.com"})
    assert again.id != deleted.id


def test_create_stopped_goes_straight_to_stopped_without_touching_the_cluster(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"}, stopped=True)
    world.settle()
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert kinds_in_cluster(world, "edge") == set()
    assert world.events("edge") == [E.CREATED, E.STOPPED]


def test_every_event_reaches_the_stream_once(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.writer.stop("edge")
    world.settle()
    ids = world.stream_event_ids()
    assert len(ids) == len(set(ids)) == len(world.writer.events("edge"))
