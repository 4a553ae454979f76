"""Fixtures for the cluster side: gateways to render, the API server emulator, and one harness per
cluster adapter so a single contract suite runs against all of them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from outbox.model import Gateway, GatewaySpec, Phase, State
from provisioner.cluster import Cluster, Manifest, error_for_status
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.kube_cluster import KubernetesCluster
from provisioner.memory_cluster import MemoryCluster
from provisioner.rollout import rollout_status
from tests.conftest import FakeClock
from tests.provisioner_support import World, provisioner_settings
from tests.support.k8s_emulator import ApiServerEmulator

NAMESPACE = "gateways"
REAL_KUBECONFIG = os.environ.get("OUTBOX_TEST_KUBECONFIG")


def make_gateway(
    name: str = "edge",
    *,
    gateway_id: str = "gw_0123456789abcdef",
    restart_stamp: int = 0,
    **spec: Any,
) -> Gateway:
    """A gateway document as the writer would store it; `spec` overrides the defaults."""
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {"image": "nginx:1.27", **spec}
    gateway_spec = GatewaySpec(**values)
    return Gateway.model_validate(
        {
            "_id": gateway_id,
            "name": name,
            "live_name": name,
            "host": gateway_spec.host,
            "live_host": gateway_spec.host,
            "spec": gateway_spec,
            "spec_version": 1,
            "restart_stamp": restart_stamp,
            "state": State.RUNNING,
            "phase": Phase.STARTING,
            "version": 2,
            "phase_changed_at": at,
            "created_at": at,
            "updated_at": at,
        }
    )


@pytest.fixture
def emulator() -> Iterator[ApiServerEmulator]:
    server = ApiServerEmulator().start()
    yield server
    server.stop()


class Harness:
    """One adapter under the contract, plus what the suite needs to do to the cluster behind it."""

    name = "?"
    cluster: Cluster

    def inject(self, operation: str, status: int) -> None:
        """The next call of `operation` fails as the API would with this HTTP status."""
        raise NotImplementedError

    def finish_rollouts(self, deployment: str) -> None:
        """Let the Deployment's rollout run to completion."""
        raise NotImplementedError

    def put_foreign(self, manifest: Manifest) -> None:
        """Create an object as somebody else would (not through the port)."""
        raise NotImplementedError

    def wait_gone(self, kind: str, name: str) -> None:
        """Until a deleted object has really gone (a foreground deletion takes a while)."""
        deadline = time.monotonic() + 120
        while self.cluster.get(kind, name) is not None:
            assert time.monotonic() < deadline, f"{kind} {name} still there"
            time.sleep(0.5)


class MemoryHarness(Harness):
    name = "memory"

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.memory = MemoryCluster(namespace=NAMESPACE, rollout_seconds=5, clock=self.clock)
        self.cluster = self.memory

    def inject(self, operation: str, status: int) -> None:
        self.memory.fail_next(operation, error_for_status(status, f"injected {status}"))

    def finish_rollouts(self, deployment: str) -> None:
        self.clock.advance(5)

    def put_foreign(self, manifest: Manifest) -> None:
        self.memory.put_foreign(manifest)


class EmulatorHarness(Harness):
    name = "kubernetes-emulator"

    def __init__(self, emulator: ApiServerEmulator) -> None:
        self.emulator = emulator
        self.cluster = KubernetesCluster(NAMESPACE, emulator.api_client(), read_timeout=5)

    def inject(self, operation: str, status: int) -> None:
        method = {"get": "GET", "apply": "PATCH", "delete": "DELETE"}[operation]
        self.emulator.respond_next(status, method=method, message=f"injected {status}")

    def finish_rollouts(self, deployment: str) -> None:
        self.emulator.complete_rollout(deployment, NAMESPACE)

    def put_foreign(self, manifest: Manifest) -> None:
        self.emulator.put(
            {**manifest, "metadata": {"namespace": NAMESPACE, **manifest["metadata"]}}
        )


class RealHarness(Harness):
    """A real cluster: a fresh namespace, deleted afterwards."""

    name = "kubernetes-real"

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client, config

        self.namespace = f"outbox-contract-{uuid.uuid4().hex[:8]}"
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace))
        )
        self.cluster = KubernetesCluster.from_config(self.namespace, kubeconfig=kubeconfig)

    def inject(self, operation: str, status: int) -> None:
        pytest.skip("faults cannot be injected into a real cluster")

    def finish_rollouts(self, deployment: str) -> None:
        deadline = time.monotonic() + 180
        while not rollout_status(self.cluster.get("Deployment", deployment)).complete:
            assert time.monotonic() < deadline, f"Deployment {deployment} never rolled out"
            time.sleep(1)

    def put_foreign(self, manifest: Manifest) -> None:
        from kubernetes import dynamic

        resources = dynamic.DynamicClient(self.api).resources
        api = resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        api.create(body=manifest, namespace=self.namespace)

    def close(self) -> None:
        self.core.delete_namespace(self.namespace)
        self.api.close()


@pytest.fixture(params=["memory", "kubernetes-emulator", "kubernetes-real"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Each cluster adapter in turn: the contract suite runs against all of them."""
    if request.param == "memory":
        yield MemoryHarness()
    elif request.param == "kubernetes-emulator":
        yield EmulatorHarness(request.getfixturevalue("emulator"))
    else:
        if not REAL_KUBECONFIG:
            pytest.skip(
                "set OUTBOX_TEST_KUBECONFIG to a kubeconfig of a disposable cluster to run the "
                "cluster contract against real Kubernetes"
            )
        real = RealHarness(REAL_KUBECONFIG)
        yield real
        real.close()


@pytest.fixture
def gateway_factory() -> Callable[..., Gateway]:
    return make_gateway


# -- daemons on fake time -------------------------------------------------------------------------


def monotonic_of(clock: FakeClock) -> Callable[[], float]:
    """A monotonic clock that moves with the fake wall clock, so schedules follow fake time."""
    origin = clock.now
    return lambda: (clock.now - origin).total_seconds()


class Waits:
    """The wait injected into a daemon run by `run()`, which waits once after every turn: it
    records every wait, lets that much fake time pass (at least `tick`, so rollouts progress),
    lets the workers finish (so each turn sees the previous turn's work), runs what the test
    scheduled for that wait, and stops the daemon after `limit` waits."""

    def __init__(self, clock: FakeClock, *, limit: int, tick: float = 1.0) -> None:
        self.clock = clock
        self.limit = limit
        self.tick = tick
        self.seen: list[float] = []
        self.daemon: Provisioner | None = None
        self.at: dict[int, Callable[[], None]] = {}

    def __call__(self, seconds: float) -> None:
        assert self.daemon is not None
        self.seen.append(seconds)
        self.daemon.wait_idle(10)
        self.clock.advance(max(seconds, self.tick))
        if (action := self.at.get(len(self.seen))) is not None:
            action()
        if len(self.seen) >= self.limit:
            self.daemon.stop()


def fake_time_provisioner(
    world: World, consumer: str = "p1", *, waits: Waits | None = None, **overrides: Any
) -> Provisioner:
    """A provisioner on the world's fake clock, built but not started (as `run()` finds it)."""
    daemon = build_provisioner(
        provisioner_settings(consumer=consumer, **overrides),
        store=world.store,
        stream=world.stream,
        cluster=world.cluster,
        clock=world.clock,
        monotonic=monotonic_of(world.clock),
        wait=waits,
    )
    if waits is not None:
        waits.daemon = daemon
    world.provisioners[consumer] = daemon  # shut down with the world
    return daemon
