"""Pods a restricted namespace refuses: the cluster accepts the Deployment with a warning and
creates no pod, and the gateway says why at once, not when its start times out.

The pod template that fails is made at our own port: a cluster wrapper strips the security
context from what the provisioner applies (as a template rendered before this release was).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

import pytest

from outbox.domain.events import EventType
from outbox.domain.model import Phase, State
from outbox.store.memory.store import MemoryStore
from outbox.writer import Writer
from provisioner.cluster.kubernetes import KubernetesCluster
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import Cluster, Manifest
from provisioner.decide import PODS_REFUSED, START_TIMEOUT
from provisioner.factory import build_reconciler
from provisioner.rollout import replica_failure
from tests.support.clock import FakeClock
from tests.support.k8s_emulator import ApiServerEmulator
from tests.support.world import provisioner_settings

ADMISSION = 'is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation'


class UnhardenedCluster:
    """Applies every Deployment without its pod's and container's security contexts."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    @property
    def namespace(self) -> str:
        return self._cluster.namespace

    def get(self, kind: str, name: str) -> Manifest | None:
        return self._cluster.get(kind, name)

    def apply(self, manifest: Manifest) -> Manifest:
        if manifest["kind"] == "Deployment":
            manifest = copy.deepcopy(manifest)
            pod = manifest["spec"]["template"]["spec"]
            pod.pop("securityContext")
            for container in pod["containers"]:
                container.pop("securityContext")
        return self._cluster.apply(manifest)

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        self._cluster.delete(kind, name, uid=uid)


@pytest.fixture(params=["memory", "kubernetes-emulator"])
def cluster(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Cluster]:
    if request.param == "memory":
        yield MemoryCluster(namespace="gateways", rollout_seconds=5, clock=clock)
        return
    emulator = ApiServerEmulator(auto_complete_rollouts=True).start()
    kube = KubernetesCluster("gateways", emulator.api_client())
    yield kube
    kube.close()
    emulator.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_refused_pods_are_the_gateways_last_error_within_one_reconcile(
    cluster: Cluster, clock: FakeClock
) -> None:
    # Given a gateway to start, and a provisioner whose Deployments fail "restricted"
    store = MemoryStore()
    writer = Writer(store, clock=clock)
    gateway = writer.create("edge", {"image": "nginxinc/nginx-unprivileged:1.27"})
    settings = provisioner_settings(start_timeout=60)
    reconciler = build_reconciler(
        settings, store, UnhardenedCluster(cluster), clock=clock, on_step=lambda g, s: None
    )

    # When it reconciles the gateway once, with no time passing
    reconciler.reconcile(gateway.id)

    # Then the cluster kept the Deployment, made no pod, and the gateway says why
    deployment = cluster.get("Deployment", "edge-gateway")
    assert deployment is not None
    assert deployment["status"].get("availableReplicas", 0) == 0
    refusal = replica_failure(deployment)
    assert refusal is not None and ADMISSION in refusal
    after = writer.get(gateway.id)
    assert (after.state, after.phase) == (State.RUNNING, Phase.STARTING)
    assert after.last_error is not None
    assert (after.last_error.reason, after.last_error.message) == (PODS_REFUSED, refusal)
    assert writer.events(gateway.id)[-1].type == EventType.FAILED

    # and looking again adds nothing: the refusal is reported once
    events = len(writer.events(gateway.id))
    reconciler.reconcile(gateway.id)
    assert len(writer.events(gateway.id)) == events
    assert writer.get(gateway.id).version == after.version

    # and the start deadline still ends the start, naming the refusal
    clock.advance(61)
    reconciler.reconcile(gateway.id)
    degraded = writer.get(gateway.id)
    assert degraded.state == State.STOPPED
    assert degraded.last_error is not None and degraded.last_error.reason == START_TIMEOUT
    assert ADMISSION in degraded.last_error.message


def test_the_api_servers_admission_warning_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    emulator = ApiServerEmulator().start()
    kube = KubernetesCluster("gateways", emulator.api_client())
    try:
        store = MemoryStore()
        gateway = Writer(store).create("edge", {"image": "nginxinc/nginx-unprivileged:1.27"})
        reconciler = build_reconciler(
            provisioner_settings(),
            store,
            UnhardenedCluster(kube),
            clock=FakeClock(),
            on_step=lambda g, s: None,
        )
        with caplog.at_level(logging.WARNING, logger="provisioner.cluster.kubernetes"):
            reconciler.reconcile(gateway.id)
    finally:
        kube.close()
        emulator.stop()

    warned = [r.getMessage() for r in caplog.records if "the API server warns" in r.getMessage()]
    assert len(warned) == 1
    assert "apply Deployment gateways/edge-gateway" in warned[0]
    assert 'would violate PodSecurity \\"restricted:latest\\"' in warned[0]


def test_the_memory_cluster_keeps_the_admission_warning() -> None:
    memory = MemoryCluster(namespace="gateways")
    unhardened = UnhardenedCluster(memory)
    store = MemoryStore()
    gateway = Writer(store).create("edge", {"image": "nginxinc/nginx-unprivileged:1.27"})
    reconciler = build_reconciler(
        provisioner_settings(), store, unhardened, clock=FakeClock(), on_step=lambda g, s: None
    )

    reconciler.reconcile(gateway.id)

    assert len(memory.warnings) == 1
    assert memory.warnings[0].startswith('would violate PodSecurity "restricted:latest": ')


def test_hardened_pods_are_admitted_and_roll_out(cluster: Cluster, clock: FakeClock) -> None:
    store = MemoryStore()
    writer = Writer(store, clock=clock)
    gateway = writer.create("edge", {"image": "nginxinc/nginx-unprivileged:1.27"})
    reconciler = build_reconciler(
        provisioner_settings(), store, cluster, clock=clock, on_step=lambda g, s: None
    )

    for _ in range(3):
        reconciler.reconcile(gateway.id)
        clock.advance(6)

    assert writer.get(gateway.id).phase == Phase.STARTED
    assert writer.get(gateway.id).last_error is None
