"""The cluster port's contract, run against every adapter: the in-memory cluster, the Kubernetes
adapter over the API server emulator, and (with OUTBOX_TEST_KUBECONFIG) a real cluster.

Then what only one adapter can show: the Kubernetes adapter's requests on the wire and its
translation of transport faults, and the in-memory cluster's rollouts and failure injection.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.cluster.kubernetes import APPLY_PATCH, KubernetesCluster
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import (
    KINDS,
    ClusterConfigError,
    PermanentClusterError,
    TemporaryClusterError,
    error_for_status,
    owned_by,
)
from provisioner.manifests import RESTART_STAMP_ANNOTATION, desired_objects, drifted, object_names
from provisioner.rollout import RolloutState, rollout_status
from tests.support.clock import FakeClock
from tests.support.cluster_harness import NAMESPACE, Harness
from tests.support.gateways import make_gateway
from tests.support.k8s_emulator import ApiServerEmulator

NAME = "edge-gateway"


def rendered(harness: Harness, **spec: Any) -> dict[str, dict[str, Any]]:
    """The edge gateway's objects by kind, for the harness's namespace."""
    gateway = make_gateway("edge", host="edge.example.com", **spec)
    objects = desired_objects(
        gateway, namespace=harness.cluster.namespace, start_timeout_seconds=60
    )
    return {manifest["kind"]: manifest for manifest in objects}


# -- the contract -------------------------------------------------------------------------------


def test_get_of_a_missing_object_is_none(harness: Harness) -> None:
    for kind in KINDS:
        assert harness.cluster.get(kind, "nothing-here") is None


@pytest.mark.parametrize("kind", KINDS)
def test_apply_creates_the_object_with_our_fields_and_get_returns_it(
    harness: Harness, kind: str
) -> None:
    desired = rendered(harness)[kind]

    returned = harness.cluster.apply(desired)
    live = harness.cluster.get(kind, NAME)

    assert live is not None
    for view in (returned, live):
        assert (view["kind"], view["metadata"]["name"]) == (kind, NAME)
        assert view["metadata"]["namespace"] == harness.cluster.namespace
        assert view["metadata"]["uid"]
        assert not drifted(desired, view), "an object just applied is what we asked for"
    assert live["metadata"]["uid"] == returned["metadata"]["uid"]


def test_apply_is_idempotent(harness: Harness) -> None:
    desired = rendered(harness)["Deployment"]
    first = harness.cluster.apply(desired)

    second = harness.cluster.apply(copy.deepcopy(desired))

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["metadata"]["generation"] == first["metadata"]["generation"] == 1
    assert not drifted(desired, harness.cluster.get("Deployment", NAME))


def test_apply_updates_and_moves_the_generation_only_when_the_spec_changes(
    harness: Harness,
) -> None:
    harness.cluster.apply(rendered(harness)["Deployment"])

    relabelled = rendered(harness)["Deployment"]
    relabelled["metadata"]["labels"]["team"] = "payments"
    assert harness.cluster.apply(relabelled)["metadata"]["generation"] == 1

    scaled = rendered(harness, replicas=2)["Deployment"]
    live = harness.cluster.apply(scaled)

    assert live["metadata"]["generation"] == 2
    assert live["spec"]["replicas"] == 2
    assert not drifted(scaled, harness.cluster.get("Deployment", NAME))


def test_apply_removes_the_fields_we_no_longer_set(harness: Harness) -> None:
    with_label = rendered(harness)["Service"]
    with_label["metadata"]["labels"]["team"] = "payments"
    harness.cluster.apply(with_label)

    harness.cluster.apply(rendered(harness)["Service"])

    live = harness.cluster.get("Service", NAME)
    assert live is not None
    assert "team" not in live["metadata"]["labels"]


def test_a_restart_stamp_starts_a_new_rollout_and_it_completes(harness: Harness) -> None:
    harness.cluster.apply(rendered(harness)["Deployment"])
    harness.finish_rollouts(NAME)
    assert rollout_status(harness.cluster.get("Deployment", NAME)).complete

    restarted = rendered(harness, restart_stamp=7)["Deployment"]
    live = harness.cluster.apply(restarted)

    assert live["spec"]["template"]["metadata"]["annotations"][RESTART_STAMP_ANNOTATION] == "7"
    assert live["metadata"]["generation"] == 2
    assert rollout_status(live).state is RolloutState.PROGRESSING
    harness.finish_rollouts(NAME)
    assert rollout_status(harness.cluster.get("Deployment", NAME)).complete


def test_delete_removes_the_object_and_deleting_again_is_fine(harness: Harness) -> None:
    for manifest in rendered(harness).values():
        harness.cluster.apply(manifest)

    for kind in reversed(KINDS):
        harness.cluster.delete(kind, NAME)
        harness.wait_gone(kind, NAME)
        harness.cluster.delete(kind, NAME)

    assert all(harness.cluster.get(kind, NAME) is None for kind in KINDS)


def test_delete_with_the_uid_of_an_object_that_changed_hands_leaves_it_alone(
    harness: Harness,
) -> None:
    seen = harness.cluster.apply(rendered(harness)["Service"])
    harness.cluster.delete("Service", NAME)
    harness.wait_gone("Service", NAME)
    harness.cluster.apply(rendered(harness)["Service"])  # the name, taken again: a new object

    with pytest.raises(TemporaryClusterError) as refused:
        harness.cluster.delete("Service", NAME, uid=seen["metadata"]["uid"])
    assert refused.value.status == 409
    assert harness.cluster.get("Service", NAME) is not None

    live = harness.cluster.get("Service", NAME)
    assert live is not None
    harness.cluster.delete("Service", NAME, uid=live["metadata"]["uid"])
    harness.wait_gone("Service", NAME)


def test_delete_of_a_missing_object_is_fine(harness: Harness) -> None:
    harness.cluster.delete("Deployment", "never-existed")


def test_objects_we_applied_are_owned_by_the_gateway_and_only_by_it(harness: Harness) -> None:
    live = harness.cluster.apply(rendered(harness)["Service"])

    assert owned_by(live, make_gateway().id)
    assert not owned_by(live, "gw_somebodyelse0000")


def test_an_object_somebody_else_created_is_not_ours(harness: Harness) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "labels": {"app": "legacy"}},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "legacy"}},
    }
    harness.put_foreign(foreign)

    live = harness.cluster.get("Service", NAME)

    assert live is not None
    assert not owned_by(live, make_gateway().id)


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param(lambda m: m["metadata"].update(name="Not_A_Name"), 422, id="invalid-name-422"),
        pytest.param(
            lambda m: m["metadata"].update(namespace="elsewhere"), 400, id="other-namespace-400"
        ),
    ],
)
def test_a_manifest_the_api_refuses_is_a_permanent_error(
    harness: Harness, change: Any, status: int
) -> None:
    manifest = rendered(harness)["Service"]
    change(manifest)

    with pytest.raises(PermanentClusterError) as raised:
        harness.cluster.apply(manifest)

    assert raised.value.status == status


def test_changing_an_immutable_selector_is_a_permanent_error(harness: Harness) -> None:
    harness.cluster.apply(rendered(harness)["Deployment"])
    other = rendered(harness)["Deployment"]
    other["spec"]["selector"]["matchLabels"]["extra"] = "x"
    other["spec"]["template"]["metadata"]["labels"]["extra"] = "x"

    with pytest.raises(PermanentClusterError) as raised:
        harness.cluster.apply(other)

    assert raised.value.status == 422


@pytest.mark.parametrize("operation", ["get", "apply", "delete"])
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (409, TemporaryClusterError),
        (429, TemporaryClusterError),
        (500, TemporaryClusterError),
        (503, TemporaryClusterError),
        (422, PermanentClusterError),
        (403, PermanentClusterError),
    ],
)
def test_api_errors_are_translated_into_temporary_or_permanent(
    harness: Harness, operation: str, status: int, error: type[Exception]
) -> None:
    manifest = rendered(harness)["Service"]
    harness.cluster.apply(manifest)
    harness.inject(operation, status)
    calls = {
        "get": lambda: harness.cluster.get("Service", NAME),
        "apply": lambda: harness.cluster.apply(manifest),
        "delete": lambda: harness.cluster.delete("Service", NAME),
    }

    with pytest.raises(error) as raised:
        calls[operation]()

    assert getattr(raised.value, "status", None) == status
    assert harness.cluster.get("Service", NAME) is not None, "a failed call changed nothing"


def test_kinds_outside_the_port_are_a_programming_error(harness: Harness) -> None:
    with pytest.raises(ValueError, match="unsupported kind"):
        harness.cluster.get("ConfigMap", NAME)
    with pytest.raises(ValueError, match="unsupported kind"):
        harness.cluster.delete("ConfigMap", NAME)


# -- classification, adapter-neutral -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (0, TemporaryClusterError),
        (400, PermanentClusterError),
        (401, PermanentClusterError),
        (403, PermanentClusterError),
        (404, PermanentClusterError),
        (408, TemporaryClusterError),
        (409, TemporaryClusterError),
        (410, PermanentClusterError),
        (422, PermanentClusterError),
        (429, TemporaryClusterError),
        (500, TemporaryClusterError),
        (502, TemporaryClusterError),
        (504, TemporaryClusterError),
    ],
)
def test_error_for_status(status: int, error: type[Exception]) -> None:
    translated = error_for_status(status, "message")
    assert type(translated) is error
    assert str(translated) == "message"


# -- the Kubernetes adapter on the wire ----------------------------------------------------------


@pytest.fixture
def kube(emulator: ApiServerEmulator) -> KubernetesCluster:
    return KubernetesCluster(NAMESPACE, emulator.api_client(), read_timeout=1.0)


def edge(**spec: Any) -> dict[str, dict[str, Any]]:
    objects = desired_objects(
        make_gateway("edge", host="edge.example.com", **spec),
        namespace=NAMESPACE,
        start_timeout_seconds=60,
    )
    return {manifest["kind"]: manifest for manifest in objects}


def test_apply_is_a_server_side_apply_patch_with_our_field_manager_forced(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    for manifest in edge().values():
        kube.apply(manifest)

    patches = emulator.requests_for("PATCH")
    assert [request.kind for request in patches] == list(KINDS)
    assert [request.path for request in patches] == [
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}",
        f"/api/v1/namespaces/{NAMESPACE}/services/{NAME}",
        f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{NAME}",
        f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses/{NAME}",
    ]
    for request in patches:
        assert request.content_type == APPLY_PATCH == "application/apply-patch+yaml"
        assert (request.field_manager, request.force) == ("gateway-outbox", "true")
        assert request.query["fieldValidation"] == "Strict"
        assert request.body == edge()[str(request.kind)]


def test_apply_of_a_missing_object_creates_it(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    assert emulator.stored("Service", NAME, NAMESPACE) is None

    kube.apply(edge()["Service"])

    assert [r.method for r in emulator.requests] == ["PATCH"], "no create, no read first"
    assert emulator.stored("Service", NAME, NAMESPACE) is not None


def test_delete_asks_for_foreground_propagation(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    kube.apply(edge()["Deployment"])

    kube.delete("Deployment", NAME)

    (request,) = emulator.requests_for("DELETE")
    assert request.query["propagationPolicy"] == "Foreground"


def test_a_foreground_deletion_is_still_seen_until_it_finishes(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    emulator.linger_deletes = True
    kube.apply(edge()["Deployment"])

    kube.delete("Deployment", NAME)
    terminating = kube.get("Deployment", NAME)
    assert terminating is not None and terminating["metadata"]["deletionTimestamp"]

    emulator.finish_deletes()
    assert kube.get("Deployment", NAME) is None


def test_applying_onto_an_object_being_deleted_is_a_temporary_error(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    emulator.linger_deletes = True
    kube.apply(edge()["Deployment"])
    kube.delete("Deployment", NAME)

    with pytest.raises(TemporaryClusterError, match="being deleted"):
        kube.apply(edge()["Deployment"])

    emulator.finish_deletes()
    assert kube.apply(edge()["Deployment"])["metadata"].get("deletionTimestamp") is None


def test_the_api_message_is_in_the_error(
    kube: KubernetesCluster, emulator: ApiServerEmulator
) -> None:
    emulator.respond_next(422, method="PATCH", message='spec.replicas: Invalid value: "-1"')

    with pytest.raises(PermanentClusterError) as raised:
        kube.apply(edge()["Deployment"])

    assert str(raised.value) == (
        f'apply Deployment {NAMESPACE}/{NAME}: 422 spec.replicas: Invalid value: "-1"'
    )


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("409", TemporaryClusterError, 409),
        ("422", PermanentClusterError, 422),
        ("500", TemporaryClusterError, 500),
        ("reset", TemporaryClusterError, None),
        ("slow", TemporaryClusterError, None),
    ],
)
def test_faults_on_the_wire_end_as_typed_errors(
    kube: KubernetesCluster,
    emulator: ApiServerEmulator,
    method: str,
    fault: str,
    error: type[Exception],
    status: int | None,
) -> None:
    kube.apply(edge()["Deployment"])
    if fault == "reset":
        emulator.reset_next(method=method)
    elif fault == "slow":
        emulator.delay_next(5, method=method)  # the client gives up after 1 s
    else:
        emulator.respond_next(int(fault), method=method)
    call = {
        "GET": lambda: kube.get("Deployment", NAME),
        "PATCH": lambda: kube.apply(edge()["Deployment"]),
        "DELETE": lambda: kube.delete("Deployment", NAME),
    }[method]

    started = time.monotonic()
    with pytest.raises(error) as raised:
        call()

    assert getattr(raised.value, "status", None) == status
    assert time.monotonic() - started < 3, "the request timeout bounds every call"
    assert sum(1 for r in emulator.requests if r.method == method) == 1 + (method == "PATCH"), (
        "no transport retries of a request that reached the server"
    )


def test_an_unreachable_server_is_a_temporary_error() -> None:
    from kubernetes import client

    from provisioner.cluster.kubernetes import tune

    closed = client.ApiClient(tune(client.Configuration(host="http://127.0.0.1:9")))
    cluster = KubernetesCluster(NAMESPACE, closed, connect_timeout=0.5, read_timeout=0.5)

    with pytest.raises(TemporaryClusterError, match="get Deployment"):
        cluster.get("Deployment", NAME)


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                "contexts": [
                    {"name": "test", "context": {"cluster": "emulator", "user": "tester"}}
                ],
                "current-context": "test",
            }
        )
    )
    return path


def test_from_config_reads_the_kubeconfig_given(
    emulator: ApiServerEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    kubeconfig = write_kubeconfig(tmp_path / "config", emulator.url)

    cluster = KubernetesCluster.from_config(NAMESPACE, kubeconfig=str(kubeconfig), context="test")
    cluster.apply(edge()["Service"])

    assert emulator.stored("Service", NAME, NAMESPACE) is not None


def test_from_config_falls_back_to_the_kubeconfig_variable(
    emulator: ApiServerEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", emulator.url)))

    assert KubernetesCluster.from_config(NAMESPACE).get("Service", NAME) is None
    assert emulator.requests_for("GET")


def test_from_config_without_any_configuration_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    with pytest.raises(ClusterConfigError, match="no usable Kubernetes configuration"):
        KubernetesCluster.from_config(NAMESPACE, kubeconfig=str(tmp_path / "missing"))


# -- the in-memory cluster's own behaviour -----------------------------------------------------


@pytest.fixture
def memory(clock: FakeClock) -> MemoryCluster:
    return MemoryCluster(namespace=NAMESPACE, rollout_seconds=5, clock=clock)


def test_a_rollout_completes_after_rollout_seconds(memory: MemoryCluster, clock: FakeClock) -> None:
    memory.apply(edge()["Deployment"])

    clock.advance(4.9)
    assert rollout_status(memory.get("Deployment", NAME)).state is RolloutState.PROGRESSING
    clock.advance(0.1)
    assert rollout_status(memory.get("Deployment", NAME)).complete


def test_a_stalled_rollout_fails_once_the_progress_deadline_passes(
    memory: MemoryCluster, clock: FakeClock
) -> None:
    memory.stall_rollouts("edge")
    memory.apply(edge()["Deployment"])  # progressDeadlineSeconds = 60

    clock.advance(59)
    assert rollout_status(memory.get("Deployment", NAME)).state is RolloutState.PROGRESSING
    clock.advance(1)
    status = rollout_status(memory.get("Deployment", NAME))
    assert status.failed
    assert "exceeded its progress deadline" in status.message


def test_a_stalled_later_rollout_keeps_the_old_pods_serving(
    memory: MemoryCluster, clock: FakeClock
) -> None:
    memory.apply(edge(replicas=2)["Deployment"])
    clock.advance(5)
    memory.stall_rollouts()

    memory.apply(edge(replicas=2, restart_stamp=3)["Deployment"])
    clock.advance(60)

    live = memory.get("Deployment", NAME)
    assert live is not None
    assert rollout_status(live).failed
    assert live["status"]["availableReplicas"] == 2


def test_stalling_leaves_completed_rollouts_alone_and_unstalling_lets_them_finish(
    memory: MemoryCluster, clock: FakeClock
) -> None:
    memory.apply(edge()["Deployment"])
    clock.advance(5)
    memory.stall_rollouts("edge")
    assert rollout_status(memory.get("Deployment", NAME)).complete

    memory.apply(edge(replicas=3)["Deployment"])
    clock.advance(30)
    assert not rollout_status(memory.get("Deployment", NAME)).complete
    memory.unstall_rollouts("edge")
    assert rollout_status(memory.get("Deployment", NAME)).complete


def test_only_a_new_pod_template_counts_as_a_rollout(memory: MemoryCluster) -> None:
    memory.apply(edge()["Deployment"])
    memory.apply(edge()["Deployment"])
    memory.apply(edge(replicas=2)["Deployment"])
    assert memory.rollouts[NAME] == 1

    memory.apply(edge(replicas=2, restart_stamp=4)["Deployment"])
    memory.apply(edge(replicas=2, restart_stamp=4)["Deployment"])

    assert memory.rollouts[NAME] == 2
    assert memory.count("apply", "Deployment", NAME) == 5


def test_fail_next_fails_the_matching_calls_then_lets_them_through(memory: MemoryCluster) -> None:
    memory.fail_next("apply", TemporaryClusterError("flaky", status=503), times=2, kind="Service")

    memory.apply(edge()["Deployment"])  # another kind: unaffected
    for _ in range(2):
        with pytest.raises(TemporaryClusterError):
            memory.apply(edge()["Service"])
    memory.apply(edge()["Service"])

    assert memory.get("Service", NAME) is not None
    assert memory.count("apply", "Service") == 3


def test_latency_goes_through_the_injected_sleep(clock: FakeClock) -> None:
    slept: list[float] = []
    memory = MemoryCluster(
        namespace=NAMESPACE, clock=clock, latency_seconds=0.2, sleep=slept.append
    )

    memory.apply(edge()["Service"])
    memory.get("Service", NAME)
    memory.delete("Service", NAME)

    assert slept == [0.2, 0.2, 0.2]


def test_drift_behind_our_back_is_visible_and_an_apply_repairs_it(memory: MemoryCluster) -> None:
    desired = edge()
    for manifest in desired.values():
        memory.apply(manifest)

    memory.tamper("Deployment", NAME, lambda d: d["spec"].update(replicas=5))
    memory.tamper("Service", NAME, lambda s: s["metadata"]["labels"].update(owner="ops"))
    memory.remove("Ingress", NAME)

    assert drifted(desired["Deployment"], memory.get("Deployment", NAME))
    assert not drifted(desired["Service"], memory.get("Service", NAME)), "an extra label is theirs"
    assert drifted(desired["Ingress"], memory.get("Ingress", NAME))

    for manifest in desired.values():
        memory.apply(manifest)
    assert not any(drifted(m, memory.get(m["kind"], NAME)) for m in desired.values())
    service = memory.get("Service", NAME)
    assert service is not None
    assert service["metadata"]["labels"]["owner"] == "ops", "apply leaves others' fields alone"
    assert memory.names() == sorted((kind, NAME) for kind in KINDS)


def test_a_tampered_spec_moves_the_generation(memory: MemoryCluster) -> None:
    memory.apply(edge()["Deployment"])

    memory.tamper("Deployment", NAME, lambda d: d["spec"].update(replicas=5))

    live = memory.get("Deployment", NAME)
    assert live is not None and live["metadata"]["generation"] == 2


def test_object_names_of_the_memory_cluster_match_the_manifests() -> None:
    assert object_names("edge") == {kind: NAME for kind in KINDS}
