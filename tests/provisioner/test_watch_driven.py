"""The provisioner with its cluster cache: watch events drive the work, reads cost no GET once
synced, deadlines are timers, and the resync costs no API request.

The world's memory cluster runs on the fake clock; its watches run on threads of their own, so
the tests wait for what a watch event brings (the sweep interval is an hour: it brings nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from outbox.domain.model import Phase
from provisioner.cluster.port import KINDS, TemporaryClusterError
from provisioner.daemon import Provisioner
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until
from tests.support.world import World

HOUR = 3600


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=5)
    yield world
    world.close()


def watching(world: World, **overrides: Any) -> Provisioner:
    settings: dict[str, Any] = {"cluster_cache": "on", "sweep_interval": HOUR}
    daemon = world.provisioner(**{**settings, **overrides})
    eventually(lambda: daemon_ready(daemon))
    return daemon


def daemon_ready(daemon: Provisioner) -> bool:
    try:
        daemon.check_cache()
    except RuntimeError:
        return False
    return True


def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    wait_until(condition, timeout=timeout, interval=0.02)


def count(daemon: Provisioner, metric: str, **labels: str) -> float:
    value = daemon.metrics.registry.get_sample_value(metric, labels)
    return value or 0.0


def starting(world: World) -> str:
    """A gateway whose objects are applied and whose rollout runs (5 s on the fake clock)."""
    gateway = world.writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    world.step(sweep=False)
    assert world.gateway(gateway.id).phase == Phase.STARTING
    return gateway.id


def started(world: World, daemon: Provisioner) -> str:
    gateway_id = starting(world)
    world.clock.advance(5)
    eventually(lambda: world.gateway(gateway_id).phase == Phase.STARTED)
    daemon.wait_idle(10)
    return gateway_id


def test_readiness_waits_until_every_kind_has_synced_once(world: World) -> None:
    world.cluster.fail_next("list", _unavailable(), kind="Ingress", times=2)
    daemon = world.provisioner(cluster_cache="on")  # started: its watches run

    with pytest.raises(RuntimeError, match="not synced"):
        daemon.check_cache()
    eventually(lambda: daemon_ready(daemon))  # the list is retried with back-off


def test_a_completed_rollout_turns_into_started_without_a_sweep(world: World) -> None:
    daemon = watching(world)
    gateway_id = starting(world)
    gets = world.cluster.count("get")
    sweeps = count(daemon, "outbox_provisioner_reconciles_total", trigger="sweep")

    world.clock.advance(5)  # the rollout completes: the memory cluster's Deployment changes

    eventually(lambda: world.gateway(gateway_id).phase == Phase.STARTED)
    assert count(daemon, "outbox_provisioner_reconciles_total", trigger="watch") >= 1
    assert count(daemon, "outbox_provisioner_reconciles_total", trigger="sweep") == sweeps
    steps = "outbox_provisioner_step_triggers_total"
    assert count(daemon, steps, phase="Started", trigger="watch") == 1
    assert world.cluster.count("get") == gets, "the step read the cache, not the API"


def test_a_deployment_deleted_by_someone_else_is_applied_again_without_a_sweep(
    world: World,
) -> None:
    daemon = watching(world)
    gateway_id = started(world, daemon)
    applies = world.cluster.count("apply", "Deployment")

    world.cluster.remove("Deployment", "edge-gateway")

    eventually(lambda: world.cluster.count("apply", "Deployment") > applies)
    eventually(lambda: ("Deployment", "edge-gateway") in world.cluster.names())
    assert world.gateway(gateway_id).phase == Phase.STARTED


def test_a_resync_of_started_gateways_sends_no_api_request(world: World) -> None:
    daemon = watching(world)
    started(world, daemon)
    calls = sum(world.cluster.calls.values())
    resyncs = count(daemon, "outbox_provisioner_resyncs_total")

    daemon.sweep(resync=True)
    daemon.wait_idle(10)

    assert count(daemon, "outbox_provisioner_resyncs_total") == resyncs + 1
    assert count(daemon, "outbox_provisioner_reconciles_total", trigger="resync") >= 1
    assert sum(world.cluster.calls.values()) == calls


def test_with_the_cache_off_a_resync_gets_every_object(world: World) -> None:
    daemon = world.provisioner(cluster_cache="off")
    gateway = world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    assert world.gateway(gateway.id).phase == Phase.STARTED
    gets = world.cluster.count("get")

    daemon.sweep(resync=True)
    daemon.wait_idle(10)

    assert world.cluster.count("get") == gets + len(KINDS)  # one per kind, the Ingress too


def test_a_start_deadline_is_a_timer_not_the_next_sweep(world: World) -> None:
    daemon = watching(world, start_timeout=7)
    world.cluster.stall_rollouts()
    gateway_id = starting(world)
    # No watch event may bring it (the stalled Deployment reports its deadline too): the watch
    # is down from here on.
    world.cluster.fail_next("watch", _unavailable(), times=1_000_000)
    world.cluster.drop_watches()

    world.clock.advance(7)
    daemon.run_once(block_ms=None)  # the loop's turn fires the timers that are due
    daemon.wait_idle(10)

    assert world.gateway(gateway_id).phase in (Phase.STOPPING, Phase.STOPPED)
    assert count(daemon, "outbox_provisioner_reconciles_total", trigger="timer") >= 1
    assert count(daemon, "outbox_provisioner_timeouts_total", reason="StartTimeout") == 1


def _unavailable() -> TemporaryClusterError:
    return TemporaryClusterError("injected: the API server is down")
