"""Crashes while stopping and deleting: after each delete, and before each commit.

A provisioner dies at the chosen point (see `tests.support.crashes`); a fresh one over the same
store and cluster takes over. The gateway still ends Stopped or Deleted, with nothing left in the
cluster, its environments right, and each phase event in the outbox exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from outbox.domain.events import EventType as E
from outbox.domain.model import Phase, State
from provisioner.cluster.kubernetes import KubernetesCluster
from provisioner.cluster.port import KINDS
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.manifests import object_names
from tests.support.clock import FakeClock
from tests.support.cluster_harness import NAMESPACE
from tests.support.crashes import CrashingCluster, CrashPoint, Life, MortalStore
from tests.support.k8s_emulator import ApiServerEmulator
from tests.support.world import World, provisioner_settings

# The teardown of a gateway with a host: commit the new phase, delete the Deployment, the Service
# and the Ingress (in that order), commit the end phase. Each point is one place to die.
CRASH_POINTS = [
    CrashPoint("commit", 1),  # before entering Stopping / Deleting: nothing done yet
    CrashPoint("delete", 1),  # the Deployment gone, the Service and the Ingress still there
    CrashPoint("delete", 2),  # the Ingress still there
    CrashPoint("delete", 3),  # every object gone, the end phase not committed
    CrashPoint("commit", 2),  # every object gone, dying in the commit of the end phase
]


@pytest.fixture(params=["memory", "kubernetes-emulator"])
def world(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[World]:
    """The in-memory cluster, or the Kubernetes adapter over HTTP on the API server emulator."""
    world = World(clock=clock, rollout_seconds=5)
    emulator = None
    if request.param == "kubernetes-emulator":
        emulator = ApiServerEmulator(auto_complete_rollouts=True).start()
        world.cluster = KubernetesCluster(NAMESPACE, emulator.api_client(), read_timeout=5)
    yield world
    world.close()
    if emulator is not None:
        emulator.stop()


def started_gateway(world: World) -> str:
    """A Started gateway with every kind of object and one environment; its id."""
    gateway = world.writer.create(
        "edge", {"image": "nginx:1.27", "host": "edge.example.com", "environments": ["prod"]}
    )
    world.settle()
    assert world.gateway(gateway.id).phase == Phase.STARTED
    assert kinds_in_cluster(world) == set(KINDS)
    return gateway.id


def kinds_in_cluster(world: World) -> set[str]:
    names = object_names("edge")
    return {kind for kind in KINDS if world.cluster.get(kind, names[kind]) is not None}


def run_until_it_dies(world: World, crash_at: CrashPoint) -> Life:
    """A provisioner that reads the pending intent and dies at `crash_at` while handling it."""
    life = Life(crash_at)
    dying: Provisioner = build_provisioner(
        provisioner_settings(consumer="dying"),
        store=MortalStore(world.store, life),
        stream=world.stream,
        cluster=CrashingCluster(world.cluster, life),
        clock=world.clock,
    )
    dying.start()
    world.publish()
    dying.run_once(block_ms=None)
    dying.wait_idle(5)
    dying.stop()
    dying.shutdown()
    assert life.dead, f"the provisioner never reached {crash_at}"
    return life


def left_in_cluster_after(crash_at: CrashPoint) -> set[str]:
    deleted = (
        crash_at.nth if crash_at.port == "delete" else (0 if crash_at.nth == 1 else len(KINDS))
    )
    return set(KINDS[deleted:])


def restart(world: World) -> None:
    """A fresh provisioner over the same store and cluster; it takes the dead one's entries."""
    world.provisioner("rescuer", reclaim_idle=0.001)
    world.settle("rescuer")


def phase_events_once(world: World, gateway_id: str) -> None:
    versions = Counter((event.type, event.version) for event in world.writer.events(gateway_id))
    assert all(count == 1 for count in versions.values()), versions
    ids = world.stream_event_ids()
    assert len(ids) == len(set(ids))
    assert world.pending() == 0


@pytest.mark.parametrize("crash_at", CRASH_POINTS, ids=str)
def test_a_stop_interrupted_by_a_crash_ends_stopped_after_a_restart(
    world: World, crash_at: CrashPoint
) -> None:
    # Given a Started gateway that the user stops
    gateway_id = started_gateway(world)
    world.writer.stop("edge")

    # When the provisioner handling the stop dies at the crash point
    run_until_it_dies(world, crash_at)
    assert kinds_in_cluster(world) == left_in_cluster_after(crash_at)
    expected_phase = Phase.STARTED if crash_at == CrashPoint("commit", 1) else Phase.STOPPING
    assert world.gateway(gateway_id).phase == expected_phase
    assert world.pending() == 1

    # and another one starts over the same store and cluster
    restart(world)

    # Then the gateway is Stopped, with nothing left and each phase event once
    gateway = world.gateway(gateway_id)
    assert (gateway.state, gateway.phase, gateway.last_error) == (
        State.STOPPED,
        Phase.STOPPED,
        None,
    )
    assert kinds_in_cluster(world) == set()
    assert world.environments(gateway_id) == {"prod": "Inactive"}
    assert world.events(gateway_id) == [
        E.CREATED,
        E.STARTING,
        E.STARTED,
        E.STOP_REQUESTED,
        E.STOPPING,
        E.STOPPED,
    ]
    phase_events_once(world, gateway_id)


@pytest.mark.parametrize("crash_at", CRASH_POINTS, ids=str)
def test_a_delete_interrupted_by_a_crash_ends_deleted_after_a_restart(
    world: World, crash_at: CrashPoint
) -> None:
    # Given a Started gateway that the user deletes
    gateway_id = started_gateway(world)
    world.writer.delete("edge")

    # When the provisioner handling the delete dies at the crash point
    run_until_it_dies(world, crash_at)
    assert kinds_in_cluster(world) == left_in_cluster_after(crash_at)
    expected_phase = Phase.STARTED if crash_at == CrashPoint("commit", 1) else Phase.DELETING
    assert world.gateway(gateway_id).phase == expected_phase
    assert world.pending() == 1

    # and another one starts over the same store and cluster
    restart(world)

    # Then the gateway is Deleted, its name and host free, nothing left, each event once
    gateway = world.gateway(gateway_id)
    assert (gateway.state, gateway.phase, gateway.last_error) == (
        State.DELETED,
        Phase.DELETED,
        None,
    )
    assert (gateway.live_name, gateway.live_host) == (None, None)
    assert kinds_in_cluster(world) == set()
    assert world.environments(gateway_id) == {}
    assert world.events(gateway_id) == [
        E.CREATED,
        E.STARTING,
        E.STARTED,
        E.DELETE_REQUESTED,
        E.DELETING,
        E.DELETED,
    ]
    phase_events_once(world, gateway_id)
