"""Upgrading to restricted pods: gateways already Started, with the objects an older release
applied (root pods, no NetworkPolicy, an Ingress without TLS), are brought to the new template
by the drift repair, each rolled exactly once, never more at a time than the worker pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from outbox.domain.events import EventType
from outbox.domain.model import Phase
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import Manifest
from provisioner.manifests import desired_objects
from provisioner.pod_security import deployment_pod_spec, violations
from tests.support import started
from tests.support.clock import FakeClock
from tests.support.world import World

GATEWAYS = 12
WORKERS = 3


def as_an_older_release_applied(manifest: Manifest) -> Manifest | None:
    """What the previous release rendered: no security contexts, no probes but readiness, no
    volume; no NetworkPolicy at all; an Ingress without class or TLS."""
    kind = manifest["kind"]
    if kind == "NetworkPolicy":
        return None
    if kind == "Deployment":
        pod = manifest["spec"]["template"]["spec"]
        pod.pop("securityContext")
        pod.pop("volumes")
        (container,) = pod["containers"]
        for field in ("securityContext", "volumeMounts", "startupProbe", "livenessProbe"):
            container.pop(field)
    if kind == "Ingress":
        manifest["spec"].pop("tls")
        manifest["spec"].pop("ingressClassName")
    return manifest


class ConcurrencyGauge:
    """A cluster in front of the memory one that measures how many applies run at once."""

    def __init__(self, cluster: MemoryCluster) -> None:
        self._cluster = cluster
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._cluster, name)

    def apply(self, manifest: Manifest) -> Manifest:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            time.sleep(0.005)  # long enough for the pool's other workers to overlap with it
            return self._cluster.apply(manifest)
        finally:
            with self._lock:
                self._now -= 1


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock)
    yield world
    world.close()


def test_started_gateways_roll_once_to_the_restricted_template_bounded_by_the_pool(
    world: World,
) -> None:
    # Given Started gateways with what the previous release applied
    seeded = [started.gateway(n, host=f"g{n}.example.com") for n in range(GATEWAYS)]
    started.insert(world.store, seeded)
    for gateway in seeded:
        for manifest in desired_objects(gateway, namespace="gateways", start_timeout_seconds=60):
            old = as_an_older_release_applied(manifest)
            if old is not None:
                world.cluster.put_foreign(old)
    assert all(
        violations(deployment_pod_spec(world.cluster.get("Deployment", f"g{n}-gateway") or {}))
        for n in range(GATEWAYS)
    )
    gauge = ConcurrencyGauge(world.cluster)
    world.cluster = gauge  # type: ignore[assignment]

    # When the new provisioner resyncs them
    daemon = world.provisioner(workers=WORKERS)
    daemon.sweep(resync=True)
    daemon.wait_idle(30)

    # Then every one has the restricted template and its NetworkPolicy, rolled once
    memory = gauge._cluster
    for gateway in seeded:
        name = f"{gateway.name}-gateway"
        deployment = memory.get("Deployment", name)
        assert deployment is not None and violations(deployment_pod_spec(deployment)) == []
        assert memory.get("NetworkPolicy", name) is not None
        ingress = memory.get("Ingress", name)
        assert ingress is not None and ingress["spec"]["tls"]
        assert memory.rollouts[name] == 1, name
        assert world.writer.get(gateway.id).phase == Phase.STARTED
        assert world.events(gateway.id).count(EventType.DRIFT_REPAIRED) == 1
    # never more applies at a time than the pool has workers
    assert 1 < gauge.most <= WORKERS

    # and a second resync finds nothing left to repair: no second rollout
    daemon.sweep(resync=True)
    daemon.wait_idle(30)
    assert all(memory.rollouts[f"{g.name}-gateway"] == 1 for g in seeded)
    assert all(world.events(g.id).count(EventType.DRIFT_REPAIRED) == 1 for g in seeded)
