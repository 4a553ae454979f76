"""The API server emulator as a process: the real adapter reaches it through the kubeconfig it
writes, and tests drive it over its admin endpoints (held applies, injected statuses, the log)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from provisioner.cluster.kubernetes import KubernetesCluster
from provisioner.cluster.port import Manifest, TemporaryClusterError
from provisioner.manifests import desired_objects
from tests.support.emulator_process import EmulatorProcess
from tests.support.gateways import make_gateway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator")).start()
    yield process
    process.close()


@pytest.fixture
def emulator(emulator_process: EmulatorProcess) -> EmulatorProcess:
    """One process for the module, emptied for each test."""
    emulator_process.reset()
    return emulator_process


@pytest.fixture
def cluster(emulator: EmulatorProcess) -> Iterator[KubernetesCluster]:
    adapter = KubernetesCluster.from_config("gateways", kubeconfig=str(emulator.kubeconfig))
    yield adapter
    adapter.close()


def manifests() -> list[Manifest]:
    """A gateway's Deployment and Service."""
    return desired_objects(make_gateway("edge"), namespace="gateways", start_timeout_seconds=60)


def test_the_adapter_reaches_the_emulator_process_through_its_kubeconfig(
    emulator: EmulatorProcess, cluster: KubernetesCluster
) -> None:
    manifest = manifests()[0]
    name = manifest["metadata"]["name"]

    live = cluster.apply(manifest)
    assert live["status"]["observedGeneration"] == 1  # rollouts complete at once
    assert cluster.get("Deployment", name) is not None
    cluster.delete("Deployment", name)
    assert cluster.get("Deployment", name) is None

    log = [(r["method"], r["kind"], r["name"]) for r in emulator.requests()]
    assert log == [
        ("PATCH", "Deployment", name),
        ("GET", "Deployment", name),
        ("DELETE", "Deployment", name),
        ("GET", "Deployment", name),
    ]
    assert emulator.requests()[0]["query"]["fieldManager"] == "gateway-outbox"


def test_a_held_apply_is_neither_answered_nor_carried_out_until_released(
    emulator: EmulatorProcess, cluster: KubernetesCluster
) -> None:
    deployment, service, *_ = manifests()
    emulator.hold_applies(after=1)
    cluster.apply(deployment)  # let through

    answered = threading.Event()
    held = threading.Thread(target=lambda: (cluster.apply(service), answered.set()))
    held.start()
    emulator.wait_until_held()
    assert emulator.held() == 1 and not answered.is_set()
    assert [o["kind"] for o in emulator.objects()] == ["Deployment"]

    emulator.release()
    held.join(10)
    assert answered.is_set() and emulator.held() == 0
    assert [o["kind"] for o in emulator.objects()] == ["Deployment", "Service"]
    cluster.apply(service)  # no longer held
    assert [r["method"] for r in emulator.requests()] == ["PATCH"] * 3


def test_an_injected_status_reaches_the_adapter_as_its_typed_error(
    emulator: EmulatorProcess, cluster: KubernetesCluster
) -> None:
    emulator.respond_next(503, method="PATCH")
    with pytest.raises(TemporaryClusterError, match="503"):
        cluster.apply(manifests()[0])
    assert emulator.objects() == []
