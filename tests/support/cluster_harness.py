"""One harness per cluster adapter: the adapter under the contract, and what the suite does to the
cluster behind it (inject a fault, finish a rollout, create a foreign object)."""

from __future__ import annotations

import os
import uuid

import pytest

from provisioner.cluster.kubernetes import KubernetesCluster
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import Cluster, Manifest, error_for_status
from provisioner.rollout import rollout_status
from tests.support.clock import FakeClock
from tests.support.k8s_emulator import ApiServerEmulator
from tests.support.waiting import wait_until

NAMESPACE = "gateways"
REAL_KUBECONFIG = os.environ.get("OUTBOX_TEST_KUBECONFIG")


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
        wait_until(
            lambda: self.cluster.get(kind, name) is None,
            f"{kind} {name} gone",
            timeout=120,
            interval=0.5,
        )


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
        wait_until(
            lambda: rollout_status(self.cluster.get("Deployment", deployment)).complete,
            f"Deployment {deployment} rolled out",
            timeout=180,
            interval=1,
        )

    def put_foreign(self, manifest: Manifest) -> None:
        from kubernetes import dynamic

        resources = dynamic.DynamicClient(self.api).resources
        api = resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        api.create(body=manifest, namespace=self.namespace)

    def close(self) -> None:
        self.core.delete_namespace(self.namespace)
        self.api.close()
