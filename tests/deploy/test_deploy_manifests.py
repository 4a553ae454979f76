"""deploy/: manifests the API server would accept, and the promises the README makes about them.

Every document validates strictly (no unknown fields) against the Kubernetes schemas of the
oldest and newest versions we support; the control plane runs in a namespace of its own, apart
from the gateways, and the provisioner's Role grants exactly the verbs its Kubernetes adapter
sends (recorded while the adapter runs against the API emulator), in the gateways' namespace
alone; pods are restricted, isolated by network policies, and read the Secret as files; probes,
ports and grace periods agree with the daemons' settings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes import client

from outbox.runtime.settings import SECRETS_DIR, SECRETS_DIR_VARIABLE, CommonSettings, load
from outbox_api.settings import ApiSettings
from provisioner.cluster.kubernetes import APPLY_PATCH, KubernetesCluster, tune
from provisioner.cluster.port import WatchableCluster
from provisioner.manifests import desired_objects
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings
from tests.support.gateways import make_gateway
from tests.support.k8s_emulator import ApiServerEmulator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
NAMESPACE = "gateways"
CONTROL_PLANE = "gateway-outbox"
DAEMONS = ("outbox-relay", "outbox-provisioner", "outbox-api")
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
POD_SECURITY = "pod-security.kubernetes.io"
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


def pod_spec(name: str) -> dict[str, Any]:
    return deployment(name)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


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


def test_the_control_plane_and_the_gateways_have_namespaces_of_their_own() -> None:
    namespaces = {document["metadata"]["name"]: document for document in of_kind("Namespace")}

    assert set(namespaces) == {CONTROL_PLANE, NAMESPACE}
    for namespace in namespaces.values():
        labels = namespace["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"{POD_SECURITY}/{mode}"] == "restricted"


def test_every_manifest_names_its_namespace_the_role_that_of_the_gateways() -> None:
    for where, document in manifests():
        if document["kind"] == "Namespace":
            continue
        wanted = NAMESPACE if document["kind"] in ("Role", "RoleBinding") else CONTROL_PLANE
        assert document["metadata"].get("namespace") == wanted, where


def test_the_kustomization_moves_nothing_to_another_namespace() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())

    assert "namespace" not in kustomization
    assert "images" not in kustomization, "the manifests name their images themselves"


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
    provisioner_pod = deployment("outbox-provisioner")["spec"]["template"]["spec"]
    accounts = {document["metadata"]["name"]: document for document in of_kind("ServiceAccount")}

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": provisioner_pod["serviceAccountName"],
            "namespace": CONTROL_PLANE,
        }
    ]
    assert len({pod_spec(name)["serviceAccountName"] for name in DAEMONS}) == len(DAEMONS)
    for name in DAEMONS:
        # No pod gets a token automounted: only the provisioner's container mounts one itself.
        assert pod_spec(name)["automountServiceAccountToken"] is False, name
        assert (
            accounts[pod_spec(name)["serviceAccountName"]]["automountServiceAccountToken"] is False
        )
        mounts = {mount["mountPath"] for mount in container(name)["volumeMounts"]}
        assert (TOKEN_PATH in mounts) == (name == "outbox-provisioner"), name


def test_the_provisioner_mounts_the_token_the_kubelet_would_read_only() -> None:
    volumes = {volume["name"]: volume for volume in pod_spec("outbox-provisioner")["volumes"]}
    (mount,) = [
        m for m in container("outbox-provisioner")["volumeMounts"] if m["mountPath"] == TOKEN_PATH
    ]
    sources = volumes[mount["name"]]["projected"]["sources"]

    assert mount["readOnly"] is True
    assert [source["serviceAccountToken"]["path"] for source in sources[:1]] == ["token"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] <= 3600
    assert sources[1]["configMap"] == {
        "name": "kube-root-ca.crt",
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }
    assert sources[2]["downwardAPI"]["items"] == [
        {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
    ]


def test_the_provisioner_manages_gateways_in_the_gateways_namespace() -> None:
    env = {item["name"]: item for item in container("outbox-provisioner")["env"]}
    (role,) = of_kind("Role")
    (binding,) = of_kind("RoleBinding")

    assert config()["OUTBOX_NAMESPACE"] == NAMESPACE
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert "OUTBOX_NAMESPACE" not in env, "the ConfigMap names it, not the pod's own namespace"
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


def test_configuration_comes_from_the_config_map_and_the_secret_as_files() -> None:
    (secret,) = of_kind("Secret")
    config_map = of_kind("ConfigMap")[0]["metadata"]["name"]

    assert set(secret["stringData"]) == {"OUTBOX_MONGODB_URI", "OUTBOX_REDIS_URL"}
    assert set(config()) <= setting_names(), "the ConfigMap names a variable nothing reads"
    assert not set(config()) & {"OUTBOX_MONGODB_URI", "OUTBOX_REDIS_URL", "OUTBOX_METRICS_PORT"}
    for name in DAEMONS:
        spec = container(name)
        volumes = {volume["name"]: volume for volume in pod_spec(name)["volumes"]}
        (mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == str(SECRETS_DIR)]
        assert spec["envFrom"] == [{"configMapRef": {"name": config_map}}], name
        assert not any("secretKeyRef" in item.get("valueFrom", {}) for item in spec["env"]), name
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]
        assert volumes[mount["name"]]["secret"]["defaultMode"] == 0o440


def test_the_daemons_read_the_secret_files_as_the_kubelet_lays_them_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Secret volume: each key a symlink to ..data/KEY, ..data a symlink to a timestamped
    # directory that the kubelet swaps atomically when the Secret changes.
    (secret,) = of_kind("Secret")
    (tmp_path / "..2026_01_01_12_00_00.1").mkdir()
    (tmp_path / "..data").symlink_to("..2026_01_01_12_00_00.1")
    for key, value in secret["stringData"].items():
        (tmp_path / "..2026_01_01_12_00_00.1" / key).write_text(value)
        (tmp_path / key).symlink_to(f"..data/{key}")
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    for variable in secret["stringData"]:
        monkeypatch.delenv(variable, raising=False)

    for cls in (RelaySettings, ProvisionerSettings):
        settings = load(cls)
        assert settings.mongodb_uri == secret["stringData"]["OUTBOX_MONGODB_URI"]
        assert settings.redis_url == secret["stringData"]["OUTBOX_REDIS_URL"]
    assert load(ApiSettings).mongodb_uri == secret["stringData"]["OUTBOX_MONGODB_URI"]


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
    pod = pod_spec("outbox-api")
    (budget,) = [p for p in of_kind("PodDisruptionBudget") if p["metadata"]["name"] == "outbox-api"]

    assert deployment("outbox-api")["spec"]["replicas"] >= 2
    assert budget["spec"]["minAvailable"] == 1
    assert pod["automountServiceAccountToken"] is False


def test_every_image_is_pinned_to_the_version_being_released() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    for name in DAEMONS:
        assert container(name)["image"] == f"gateway-outbox:{version}", name
        assert container(name)["imagePullPolicy"] == "IfNotPresent", name


@pytest.mark.parametrize("name", DAEMONS)
def test_every_pod_and_container_is_restricted(name: str) -> None:
    pod = pod_spec(name)
    (only,) = pod["containers"]
    security = only["securityContext"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in only["volumeMounts"]}

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10001
    assert pod["securityContext"]["runAsGroup"] >= 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod)


@pytest.mark.parametrize("name", DAEMONS)
def test_every_container_requests_and_is_limited_in_cpu_and_memory(name: str) -> None:
    resources = container(name)["resources"]

    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def network_policy(name: str) -> dict[str, Any]:
    (found,) = [p for p in of_kind("NetworkPolicy") if p["metadata"]["name"] == name]
    return found


def allowed_ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(port["protocol"], port["port"]) for rule in rules for port in rule["ports"]}


def test_everything_in_the_control_plane_namespace_is_denied_unless_a_policy_allows_it() -> None:
    deny = network_policy("default-deny")

    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


DNS = {("UDP", 53), ("TCP", 53)}
MONGODB, REDIS = ("TCP", 27017), ("TCP", 6379)
API_SERVER = {("TCP", 443), ("TCP", 6443)}


@pytest.mark.parametrize(
    ("name", "egress"),
    [
        ("outbox-relay", {*DNS, MONGODB, REDIS}),
        ("outbox-provisioner", {*DNS, MONGODB, REDIS, *API_SERVER}),
        ("outbox-api", {*DNS, MONGODB}),
    ],
)
def test_each_daemon_admits_only_its_own_port_and_calls_only_its_backends(
    name: str, egress: set[tuple[str, int]]
) -> None:
    policy = network_policy(name)
    labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
    ports = {(port["protocol"], port["containerPort"]) for port in container(name)["ports"]}
    (dns,) = [rule for rule in policy["spec"]["egress"] if allowed_ports([rule]) == DNS]

    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert allowed_ports(policy["spec"]["ingress"]) == ports
    assert allowed_ports(policy["spec"]["egress"]) == egress
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]


def test_the_image_holds_every_package_the_manifests_run() -> None:
    # `outbox api run` (api.yaml) needs outbox_api: the wheel is built from what is copied.
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]

    for package in packages:
        assert f"COPY {package} ./{package}\n" in dockerfile, package
