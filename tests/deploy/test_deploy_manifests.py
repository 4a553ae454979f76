"""deploy/: manifests the API server would accept, and the promises the README makes about them.

Every document validates strictly (no unknown fields) against the Kubernetes schemas of the
oldest and newest versions we support; the provisioner's Role grants exactly the verbs its
Kubernetes adapter sends (recorded while the adapter runs against the API emulator), in its own
namespace; probes, ports and grace periods agree with the daemons' settings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from outbox.settings import CommonSettings
from outbox_api.settings import ApiSettings
from provisioner.cluster import WatchableCluster
from provisioner.kube_cluster import APPLY_PATCH, KubernetesCluster, tune
from provisioner.manifests import desired_objects
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings
from tests.support.gateways import make_gateway
from tests.support.k8s_emulator import ApiServerEmulator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
NAMESPACE = "gateways"
PORT_OPERATIONS = {"get", "apply", "delete", "list", "watch"}
SETTINGS = (CommonSettings, RelaySettings, ProvisionerSettings, ApiSettings)


def manifests() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append(
                    (f"{path.name}:{document['kind']}/{document['metadata']['name']}", document)
                )
    return documents


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in manifests() if document["kind"] == kind]


def deployment(name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    return found


def container(name: str) -> dict[str, Any]:
    (only,) = deployment(name)["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def config() -> dict[str, str]:
    (config_map,) = of_kind("ConfigMap")
    return config_map["data"]  # type: ignore[no-any-return]


def setting_names() -> set[str]:
    return {f"OUTBOX_{name.upper()}" for cls in SETTINGS for name in cls.model_fields}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("where", "document"), manifests(), ids=[w for w, _ in manifests()])
def test_every_manifest_validates_strictly(
    where: str, document: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(document, version, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}

    assert set(kustomization["resources"]) == files


def test_the_rendered_kustomization_validates_strictly() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the rendered kustomization is not checked")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
    ).stdout
    documents = [document for document in yaml.safe_load_all(rendered) if document]

    assert len(documents) == len(manifests())
    for document in documents:
        kubernetes_validate.validate(document, VERSIONS[-1], strict=True)
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gateway-outbox"


def test_no_manifest_names_a_namespace() -> None:
    for where, document in manifests():
        assert "namespace" not in document["metadata"], where
        for subject in document.get("subjects", []):
            assert "namespace" not in subject, where


def test_nothing_is_granted_cluster_wide() -> None:
    kinds = {document["kind"] for _, document in manifests()}

    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


class RecordingApiClient(client.ApiClient):
    """The official client, noting every request it sends: what the API server authorises."""

    def __init__(self, configuration: client.Configuration) -> None:
        super().__init__(configuration)
        self.sent: list[tuple[str, str, str | None]] = []  # method, URL, content type

    def call_api(
        self, method: str, url: str, header_params: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        self.sent.append((method, url, (header_params or {}).get("Content-Type")))
        return super().call_api(method, url, header_params, *args, **kwargs)


def authorised_as(method: str, url: str, content_type: str | None) -> tuple[str, str, set[str]]:
    """(API group, resource, RBAC verbs) a request needs. A server-side apply may create the
    object, so the API server also checks `create` for it."""
    address = urlsplit(url)
    parts = address.path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    assert rest[0] == "namespaces", f"a request outside a namespace: {url}"
    resource, named = "/".join([rest[2], *rest[4:]]), len(rest) > 3
    watch = dict(parse_qsl(address.query)).get("watch") in ("true", "1")
    verbs = {
        "GET": {"watch"} if watch else {"get"} if named else {"list"},
        "PATCH": {"patch", "create"} if content_type == APPLY_PATCH else {"patch"},
        "PUT": {"update"},
        "POST": {"create"},
        "DELETE": {"delete"} if named else {"deletecollection"},
    }[method]
    return group, resource, verbs


def verbs_the_adapter_uses() -> dict[tuple[str, str], set[str]]:
    """Every port operation on every kind, through the Kubernetes adapter against the API server
    emulator: missing and present objects, creating and changing applies, deletes."""
    assert {
        name for name in dir(WatchableCluster) if not name.startswith("_") and name != "namespace"
    } == PORT_OPERATIONS, "the cluster port changed: exercise its new operations here"
    emulator = ApiServerEmulator().start()
    api = RecordingApiClient(tune(client.Configuration(host=emulator.url, no_proxy="127.0.0.1")))
    watches = RecordingApiClient(api.configuration)
    cluster = KubernetesCluster(NAMESPACE, api, watch_client=watches)
    try:
        for manifest in desired_objects(
            make_gateway("edge", host="edge.example.com"),
            namespace=NAMESPACE,
            start_timeout_seconds=60,
        ):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            assert cluster.get(kind, name) is None
            cluster.apply(manifest)
            live = cluster.apply(
                {
                    **manifest,
                    "metadata": {**manifest["metadata"], "annotations": {"changed": "yes"}},
                }
            )
            cluster.delete(kind, name, uid=live["metadata"]["uid"])
            cluster.delete(kind, name)
            listing = cluster.list(kind)
            next(iter(cluster.watch(kind, listing.resource_version, timeout_seconds=1)), None)
    finally:
        cluster.close()
        emulator.stop()
    needed: dict[tuple[str, str], set[str]] = {}
    for request in api.sent + watches.sent:
        group, resource, verbs = authorised_as(*request)
        needed.setdefault((group, resource), set()).update(verbs)
    return needed


def test_the_provisioner_role_grants_exactly_the_verbs_the_adapter_uses() -> None:
    (role,) = of_kind("Role")

    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == verbs_the_adapter_uses()
    assert all(
        "resourceNames" not in rule and "nonResourceURLs" not in rule for rule in role["rules"]
    )


def test_only_the_provisioner_is_bound_to_the_role_and_only_it_gets_an_api_token() -> None:
    (binding,) = of_kind("RoleBinding")
    (role,) = of_kind("Role")
    relay_pod = deployment("outbox-relay")["spec"]["template"]["spec"]
    provisioner_pod = deployment("outbox-provisioner")["spec"]["template"]["spec"]

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": provisioner_pod["serviceAccountName"]}
    ]
    assert relay_pod["automountServiceAccountToken"] is False
    assert relay_pod["serviceAccountName"] != provisioner_pod["serviceAccountName"]


def test_the_provisioner_manages_gateways_in_its_own_namespace() -> None:
    env = {item["name"]: item for item in container("outbox-provisioner")["env"]}

    assert env["OUTBOX_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["OUTBOX_CONSUMER"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_two_relays_stand_by_for_the_lease_and_the_provisioner_scales_out() -> None:
    assert deployment("outbox-relay")["spec"]["replicas"] == 2
    assert deployment("outbox-provisioner")["spec"]["replicas"] >= 2


@pytest.mark.parametrize(
    ("name", "settings"),
    [("outbox-relay", RelaySettings), ("outbox-provisioner", ProvisionerSettings)],
)
def test_probes_hit_the_health_endpoints_on_the_daemon_metrics_port(
    name: str, settings: type[CommonSettings]
) -> None:
    spec = container(name)
    default_port = settings.model_fields["metrics_port"].default
    env = {item["name"]: item.get("value") for item in spec["env"]}
    (port,) = spec["ports"]

    assert port["containerPort"] == default_port == int(env["OUTBOX_METRICS_PORT"])
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert spec["args"] == [name.removeprefix("outbox-"), "run"]


@pytest.mark.parametrize("name", ["outbox-relay", "outbox-provisioner", "outbox-api"])
def test_kubernetes_waits_longer_than_the_daemons_grace_period(name: str) -> None:
    pod = deployment(name)["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] > float(config()["OUTBOX_GRACE_SECONDS"])


def test_configuration_comes_from_the_config_map_and_the_secret() -> None:
    (secret,) = of_kind("Secret")
    config_map = of_kind("ConfigMap")[0]["metadata"]["name"]
    secret_name = secret["metadata"]["name"]

    assert set(secret["stringData"]) == {"OUTBOX_MONGODB_URI", "OUTBOX_REDIS_URL"}
    assert set(config()) <= setting_names(), "the ConfigMap names a variable nothing reads"
    assert not set(config()) & {"OUTBOX_MONGODB_URI", "OUTBOX_REDIS_URL", "OUTBOX_METRICS_PORT"}
    for name in ("outbox-relay", "outbox-provisioner", "outbox-api"):
        assert container(name)["envFrom"] == [
            {"configMapRef": {"name": config_map}},
            {"secretRef": {"name": secret_name}},
        ]


def test_the_config_map_values_are_valid_settings() -> None:
    values = {key.removeprefix("OUTBOX_").lower(): value for key, value in config().items()}
    for cls in (RelaySettings, ProvisionerSettings, ApiSettings):
        fields = {key: value for key, value in values.items() if key in cls.model_fields}
        cls(_env_file=None, **fields)  # type: ignore[arg-type]


def test_the_image_runs_outbox_as_a_non_root_user_on_python_3_11_slim() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.strip()
        for line in dockerfile.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    final_stage = instructions[
        max(i for i, line in enumerate(instructions) if line.startswith("FROM")) :
    ]

    assert all(
        line.split()[1] == "python:3.11-slim" for line in instructions if line.startswith("FROM")
    )
    (user,) = [line for line in final_stage if line.startswith("USER ")]
    assert not re.match(r"USER (root|0)\b", user)
    assert 'ENTRYPOINT ["outbox"]' in final_stage
    assert any("pip install" in line for line in final_stage)


def test_the_api_listens_on_all_interfaces_and_its_probes_and_service_use_its_port() -> None:
    spec = container("outbox-api")
    env = {item["name"]: item.get("value") for item in spec["env"]}
    (port,) = spec["ports"]
    (service,) = [s for s in of_kind("Service") if s["metadata"]["name"] == "outbox-api"]
    pod_labels = deployment("outbox-api")["spec"]["template"]["metadata"]["labels"]

    assert spec["args"] == ["api", "run"]
    assert env["OUTBOX_API_HOST"] == "0.0.0.0"
    assert port["containerPort"] == int(env["OUTBOX_API_PORT"])
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_the_api_has_replicas_to_spare_and_no_kubernetes_credentials() -> None:
    pod = deployment("outbox-api")["spec"]["template"]["spec"]
    (budget,) = [p for p in of_kind("PodDisruptionBudget") if p["metadata"]["name"] == "outbox-api"]

    assert deployment("outbox-api")["spec"]["replicas"] >= 2
    assert budget["spec"]["minAvailable"] == 1
    assert pod["automountServiceAccountToken"] is False
