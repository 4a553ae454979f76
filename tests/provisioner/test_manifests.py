"""`desired_objects`, `undesired_kinds` and `drifted`: table-driven, and every rendered manifest
checked against the Kubernetes schemas (strict: no unknown field) of the versions we support."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from outbox.domain.model import MAX_NAME_LENGTH
from provisioner.cluster.port import GATEWAY_ID_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL
from provisioner.manifests import (
    NAMESPACE_NAME_LABEL,
    RESTART_STAMP_ANNOTATION,
    WorkloadPolicy,
    desired_objects,
    drifted,
    object_names,
    undesired_kinds,
)
from tests.support.gateways import make_gateway

NAMESPACE = "gateways"
LONGEST = "g" + "w" * (MAX_NAME_LENGTH - 1)
SCHEMA_VERSIONS = ["1.27.0", kubernetes_validate.utils.latest_version()]

# A tuple path: the annotation key itself contains dots.
STAMP_PATH = ("spec", "template", "metadata", "annotations", RESTART_STAMP_ANNOTATION)

GATEWAYS = {
    "plain": make_gateway("edge"),
    "with-host": make_gateway("edge", host="edge.example.com", replicas=3, port=9000),
    "restarted": make_gateway("edge", restart_stamp=12, image="registry.example.com/t/gw:2.1"),
    "longest-name": make_gateway(LONGEST, host="a.b.example.com"),
}


def render(gateway_key: str = "with-host", **kwargs: Any) -> dict[str, dict[str, Any]]:
    gateway = GATEWAYS[gateway_key] if not kwargs else make_gateway("edge", **kwargs)
    objects = desired_objects(gateway, namespace=NAMESPACE, start_timeout_seconds=300)
    return {manifest["kind"]: manifest for manifest in objects}


# -- names -----------------------------------------------------------------------------------


def test_object_names_derive_from_the_gateway_name_and_fit_63_characters() -> None:
    assert object_names("edge") == {
        "Deployment": "edge-gateway",
        "Service": "edge-gateway",
        "NetworkPolicy": "edge-gateway",
        "Ingress": "edge-gateway",
    }
    assert all(len(name) <= 63 for name in object_names(LONGEST).values())


# -- desired_objects --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kinds"),
    [
        ("plain", ["Deployment", "Service", "NetworkPolicy"]),
        ("with-host", ["Deployment", "Service", "NetworkPolicy", "Ingress"]),
        ("restarted", ["Deployment", "Service", "NetworkPolicy"]),
        ("longest-name", ["Deployment", "Service", "NetworkPolicy", "Ingress"]),
    ],
)
def test_the_objects_of_a_gateway(key: str, kinds: list[str]) -> None:
    gateway = GATEWAYS[key]

    objects = desired_objects(gateway, namespace=NAMESPACE, start_timeout_seconds=300)

    assert [manifest["kind"] for manifest in objects] == kinds
    for manifest in objects:
        metadata = manifest["metadata"]
        assert metadata["name"] == object_names(gateway.name)[manifest["kind"]]
        assert metadata["namespace"] == NAMESPACE
        assert metadata["labels"] == {
            MANAGED_BY_LABEL: "gateway-outbox",
            INSTANCE_LABEL: gateway.name,
            GATEWAY_ID_LABEL: gateway.id,
        }


@pytest.mark.parametrize(
    ("key", "path", "expected"),
    [
        ("plain", "spec.replicas", 1),
        ("with-host", "spec.replicas", 3),
        ("plain", "spec.progressDeadlineSeconds", 300),
        ("plain", "spec.template.spec.containers.0.image", "nginx:1.27"),
        ("restarted", "spec.template.spec.containers.0.image", "registry.example.com/t/gw:2.1"),
        ("plain", "spec.template.spec.containers.0.ports.0.containerPort", 8080),
        ("with-host", "spec.template.spec.containers.0.ports.0.containerPort", 9000),
        ("with-host", "spec.template.spec.containers.0.readinessProbe.tcpSocket.port", 9000),
        ("plain", "spec.template.spec.containers.0.resources.requests.cpu", "100m"),
        ("plain", "spec.template.spec.containers.0.resources.limits.memory", "256Mi"),
        (
            "plain",
            STAMP_PATH,
            "0",
        ),
        (
            "restarted",
            STAMP_PATH,
            "12",
        ),
        ("plain", "spec.strategy.rollingUpdate.maxUnavailable", 0),
    ],
)
def test_the_deployment(key: str, path: str | tuple[str, ...], expected: Any) -> None:
    assert dig(render(key)["Deployment"], path) == expected


def test_the_deployment_selects_its_own_pods_by_instance_and_gateway_id() -> None:
    deployment = render()["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]

    assert selector == {INSTANCE_LABEL: "edge", GATEWAY_ID_LABEL: "gw_0123456789abcdef"}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_the_service_sends_port_80_to_the_gateway_port_of_its_pods() -> None:
    objects = render()
    service = objects["Service"]

    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == objects["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9000, "protocol": "TCP"}
    ]


def test_the_ingress_routes_the_host_to_the_service() -> None:
    objects = render()

    (rule,) = objects["Ingress"]["spec"]["rules"]

    assert rule["host"] == "edge.example.com"
    assert rule["http"]["paths"] == [
        {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": "edge-gateway", "port": {"number": 80}}},
        }
    ]


def test_rendering_is_deterministic_so_a_retried_apply_changes_nothing() -> None:
    assert render(host="a.example.com", restart_stamp=3) == render(
        host="a.example.com", restart_stamp=3
    )
    assert render(restart_stamp=3)["Deployment"] != render(restart_stamp=4)["Deployment"]


@pytest.mark.parametrize(("host", "undesired"), [(None, ["Ingress"]), ("edge.example.com", [])])
def test_undesired_kinds(host: str | None, undesired: list[str]) -> None:
    assert undesired_kinds(make_gateway(host=host)) == undesired


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("key", sorted(GATEWAYS))
def test_every_rendered_manifest_is_valid_kubernetes(key: str, version: str) -> None:
    for manifest in render(key).values():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schema_check_catches_a_typo() -> None:
    broken = render()["Deployment"]
    broken["spec"]["replica"] = 2

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, SCHEMA_VERSIONS[-1], strict=True)


# -- drifted ---------------------------------------------------------------------------------


def served(manifest: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server returns it: server metadata, defaults, status."""
    live = copy.deepcopy(manifest)
    live["metadata"].update(
        uid="0b7c",
        generation=3,
        resourceVersion="812",
        creationTimestamp="2026-01-01T12:00:00Z",
        managedFields=[{"manager": "gateway-outbox", "operation": "Apply"}],
    )
    live["status"] = {"observedGeneration": 3, "replicas": 1}
    if live["kind"] == "Deployment":
        spec = live["spec"]
        spec["revisionHistoryLimit"] = 10
        container = spec["template"]["spec"]["containers"][0]
        container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/x")
        container["readinessProbe"].update(timeoutSeconds=1, successThreshold=1)
        spec["template"]["spec"].update(restartPolicy="Always", dnsPolicy="ClusterFirst")
    if live["kind"] == "Service":
        live["spec"].update(clusterIP="10.96.3.4", clusterIPs=["10.96.3.4"])
    return live


Change = Callable[[dict[str, Any]], None]


def set_path(path: str, value: Any) -> Change:
    def change(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = manifest
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def delete_path(parent: str, key: str) -> Change:
    """Remove `key` (which may contain dots, like a label) from the map at `parent`."""

    def change(manifest: dict[str, Any]) -> None:
        del dig(manifest, parent)[key]

    return change


def add_sidecar(manifest: dict[str, Any]) -> None:
    manifest["spec"]["template"]["spec"]["containers"].append({"name": "mesh", "image": "envoy"})


def add_rule(manifest: dict[str, Any]) -> None:
    manifest["spec"]["rules"].append({"host": "other.example.com"})


IMAGE = "spec.template.spec.containers.0.image"


@pytest.mark.parametrize(
    ("kind", "change", "expected"),
    [
        pytest.param("Deployment", lambda m: None, False, id="as-served"),
        pytest.param("Deployment", set_path("spec.replicas", 5), True, id="scaled-by-hand"),
        pytest.param("Deployment", set_path("spec.replicas", "3"), True, id="number-as-text"),
        pytest.param("Deployment", set_path(IMAGE, "nginx:latest"), True, id="image-changed"),
        pytest.param(
            "Deployment",
            delete_path("spec.template.metadata.annotations", RESTART_STAMP_ANNOTATION),
            True,
            id="restart-stamp-gone",
        ),
        pytest.param(
            "Deployment", set_path("metadata.labels.extra", "x"), False, id="someone-adds-a-label"
        ),
        pytest.param(
            "Deployment", delete_path("metadata.labels", GATEWAY_ID_LABEL), True, id="label-gone"
        ),
        pytest.param("Deployment", add_sidecar, False, id="sidecar-injected-by-a-mesh"),
        pytest.param(
            "Deployment",
            set_path("spec.template.spec.automountServiceAccountToken", 0),
            True,
            id="false-is-not-zero",
        ),
        pytest.param("Service", lambda m: None, False, id="service-as-served"),
        pytest.param(
            "Service", set_path("spec.ports.0.targetPort", 8080), True, id="target-port-changed"
        ),
        pytest.param(
            "Service",
            lambda m: m["spec"]["ports"].append({"port": 443, "name": "tls"}),
            False,
            id="port-added-by-someone-else",
        ),
        pytest.param("Service", set_path("spec.ports", []), True, id="ports-gone"),
        pytest.param("Ingress", lambda m: None, False, id="ingress-as-served"),
        pytest.param("Ingress", add_rule, True, id="ingress-rules-are-atomic"),
        pytest.param(
            "Ingress", set_path("spec.rules.0.host", "evil.example.com"), True, id="host-changed"
        ),
    ],
)
def test_drifted(kind: str, change: Change, expected: bool) -> None:
    desired = render()[kind]
    live = served(desired)
    change(live)

    assert drifted(desired, live) is expected


def test_a_missing_object_has_drifted() -> None:
    assert drifted(render()["Service"], None)


def dig(document: Any, path: str | tuple[str, ...]) -> Any:
    for part in path.split(".") if isinstance(path, str) else path:
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


# -- isolation and TLS ----------------------------------------------------------------------------


def network_policy(policy: WorkloadPolicy) -> dict[str, Any]:
    gateway = make_gateway("edge", port=8080)
    (rendered,) = [
        m
        for m in desired_objects(
            gateway, namespace=NAMESPACE, start_timeout_seconds=300, policy=policy
        )
        if m["kind"] == "NetworkPolicy"
    ]
    return rendered


def test_only_the_ingress_controller_and_labelled_neighbours_reach_the_gateway_port() -> None:
    spec = network_policy(WorkloadPolicy(ingress_namespace="ingress-nginx"))["spec"]

    assert spec["podSelector"] == {
        "matchLabels": {INSTANCE_LABEL: "edge", GATEWAY_ID_LABEL: "gw_0123456789abcdef"}
    }
    assert spec["policyTypes"] == ["Ingress"], "egress stays open by default"
    assert spec["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "ingress-nginx"}}},
                {"podSelector": {"matchLabels": {"gateway-outbox.io/client": "true"}}},
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]


def test_without_a_client_label_only_the_ingress_controller_reaches_it() -> None:
    spec = network_policy(WorkloadPolicy(client_label=None))["spec"]

    assert [list(source) for source in spec["ingress"][0]["from"]] == [["namespaceSelector"]]


def test_closed_egress_lets_the_gateway_resolve_names_and_nothing_else() -> None:
    spec = network_policy(WorkloadPolicy(egress="closed"))["spec"]

    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = spec["egress"]
    assert rule["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert rule["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_a_network_policy_applied_as_rendered_has_not_drifted() -> None:
    # Two ports share the number 53: the list is compared whole, not keyed by port.
    rendered = network_policy(WorkloadPolicy(egress="closed"))

    assert not drifted(rendered, served(rendered))


def test_a_cert_manager_issuer_annotates_the_ingress() -> None:
    gateway = make_gateway("edge", host="edge.example.com")
    policy = WorkloadPolicy(tls_issuer="letsencrypt", tls_issuer_kind="Issuer")
    (ingress,) = [
        m
        for m in desired_objects(
            gateway, namespace=NAMESPACE, start_timeout_seconds=300, policy=policy
        )
        if m["kind"] == "Ingress"
    ]

    assert ingress["metadata"]["annotations"] == {"cert-manager.io/issuer": "letsencrypt"}
    assert ingress["spec"]["tls"] == [
        {"hosts": ["edge.example.com"], "secretName": "edge-gateway-tls"}
    ]
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_the_pod_has_three_probes_and_a_writable_tmp_on_a_read_only_root() -> None:
    pod = render("plain")["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert pod["securityContext"]["runAsUser"] >= 10001
    assert "cpu" not in container["resources"]["limits"], "no CPU limit: see manifests.py"
