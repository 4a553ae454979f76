"""The objects a gateway should have in the cluster, as pure functions of the gateway.

Names derive from the gateway name (at most 40 characters, so every name here fits 63); labels
say who manages the object and for which gateway, so the provisioner never touches an object
that is not its own. `drifted` compares a live object with its desired form the way server-side
apply owns fields: only what we set counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from outbox.domain.model import Gateway
from provisioner.cluster.port import (
    GATEWAY_ID_LABEL,
    INSTANCE_LABEL,
    KINDS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    Manifest,
)

RESTART_STAMP_ANNOTATION = "gateway-outbox.io/restart-stamp"
NAME_SUFFIX = "-gateway"
TLS_SECRET_SUFFIX = "-tls"
SERVICE_PORT = 80
CONTAINER_NAME = "gateway"
PORT_NAME = "http"
TMP_VOLUME = "tmp"
# The label every namespace carries with its own name (Kubernetes sets it): how a NetworkPolicy
# names the ingress controller's namespace without a label of our own on it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ISSUER_ANNOTATIONS = {
    "ClusterIssuer": "cert-manager.io/cluster-issuer",
    "Issuer": "cert-manager.io/issuer",
}


@dataclass(frozen=True)
class WorkloadPolicy:
    """What the platform, not the tenant, decides about every gateway's objects (from settings).

    `client_label` is the `key=value` label of same-namespace pods that may reach gateways
    directly; with `egress` "closed" a gateway may only resolve names (DNS), nothing else.
    """

    run_as_user: int = 10001
    run_as_group: int = 10001
    ingress_namespace: str = "ingress-nginx"
    ingress_class: str = "nginx"
    client_label: tuple[str, str] | None = ("gateway-outbox.io/client", "true")
    egress: Literal["open", "closed"] = "open"
    tls_issuer: str | None = None
    tls_issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    tmp_size: str = "64Mi"


DEFAULT_POLICY = WorkloadPolicy()

# Keys that identify an item of an associative list (containers by name, ports by number), as
# the API's merge keys do. Lists whose items have none of them are atomic (Ingress rules, paths).
_MERGE_KEYS = ("containerPort", "port", "name")


def object_names(gateway_name: str) -> dict[str, str]:
    """The name of each kind's object; all share one (kinds are separate name spaces)."""
    name = f"{gateway_name}{NAME_SUFFIX}"
    return dict.fromkeys(KINDS, name)


def labels(gateway: Gateway) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        INSTANCE_LABEL: gateway.name,
        GATEWAY_ID_LABEL: gateway.id,
    }


def selector(gateway: Gateway) -> dict[str, str]:
    # The id as well as the name: a gateway re-created under a deleted one's name must never
    # select pods the old one left terminating.
    return {INSTANCE_LABEL: gateway.name, GATEWAY_ID_LABEL: gateway.id}


def desired_objects(
    gateway: Gateway,
    *,
    namespace: str,
    start_timeout_seconds: int,
    policy: WorkloadPolicy = DEFAULT_POLICY,
) -> list[Manifest]:
    """Deployment, Service, NetworkPolicy and, when the gateway has a host, Ingress; in that
    order (the pods are isolated before the world is pointed at them)."""
    objects = [
        _deployment(gateway, namespace, start_timeout_seconds, policy),
        _service(gateway, namespace),
        _network_policy(gateway, namespace, policy),
    ]
    if gateway.spec.host is not None:
        objects.append(_ingress(gateway, namespace, gateway.spec.host, policy))
    return objects


def undesired_kinds(gateway: Gateway) -> list[str]:
    """Kinds the gateway may once have had and should not have now (the Ingress without a host)."""
    return [] if gateway.spec.host is not None else ["Ingress"]


def drifted(desired: Manifest, live: Manifest | None) -> bool:
    """Whether the live object is missing, or lacks or differs in any field we set.

    Fields the server or other managers add (status, uid, defaults, extra labels, a sidecar
    container) are not ours and never count, just as a server-side apply would leave them alone.
    """
    if live is None:
        return True
    for key, wanted in desired.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        ours = _owned_metadata(wanted) if key == "metadata" else wanted
        if not _contains(live.get(key), ours):
            return True
    return False


def _owned_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    # Everything else in metadata (uid, generation, managedFields, ...) belongs to the server.
    return {
        key: metadata[key]
        for key in ("name", "namespace", "labels", "annotations")
        if key in metadata
    }


def _contains(live: Any, desired: Any) -> bool:
    """Every field of `desired` is in `live` with the same value; `live` may have more."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and _contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return isinstance(live, list) and _list_contains(live, desired)
    # bool is an int in Python: keep True from matching 1 and the like.
    return type(live) is type(desired) and bool(live == desired)


def _list_contains(live: list[Any], desired: list[Any]) -> bool:
    key = _merge_key(desired)
    if key is None:
        # Atomic list: apply replaces it whole, so it must match item for item.
        return len(live) == len(desired) and all(
            _contains(item, wanted) for item, wanted in zip(live, desired, strict=True)
        )
    by_key = {item.get(key): item for item in live if isinstance(item, dict)}
    return all(_contains(by_key.get(wanted[key]), wanted) for wanted in desired)


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _MERGE_KEYS:
        if not all(key in item for item in items):
            continue
        # A key shared by two items (port 53 over UDP and over TCP) identifies neither.
        if len({repr(item[key]) for item in items}) == len(items):
            return key
    return None


def _metadata(gateway: Gateway, namespace: str, kind: str) -> dict[str, Any]:
    return {
        "name": object_names(gateway.name)[kind],
        "namespace": namespace,
        "labels": labels(gateway),
    }


def _deployment(
    gateway: Gateway, namespace: str, start_timeout_seconds: int, policy: WorkloadPolicy
) -> Manifest:
    spec = gateway.spec
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(gateway, namespace, "Deployment"),
        "spec": {
            "replicas": spec.replicas,
            # Kubernetes marks the rollout failed (ProgressDeadlineExceeded) when our timeout
            # would fire anyway, so both agree on what "too slow" means.
            "progressDeadlineSeconds": start_timeout_seconds,
            "selector": {"matchLabels": selector(gateway)},
            # Never below the desired count: when a later rollout fails, the old pods are still
            # all there and serving (the RolloutTimeout case of DESIGN.md).
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels(gateway),
                    # The restart stamp is the version of the restart request: re-applying the
                    # same step renders the same template, so it never starts a second rollout.
                    "annotations": {RESTART_STAMP_ANNOTATION: str(gateway.restart_stamp)},
                },
                "spec": _pod_spec(gateway, policy),
            },
        },
    }


def _pod_spec(gateway: Gateway, policy: WorkloadPolicy) -> dict[str, Any]:
    """A pod that passes Pod Security "restricted" (provisioner.pod_security checks it)."""
    return {
        # A gateway proxies traffic; it has no business with the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": policy.run_as_user,
            "runAsGroup": policy.run_as_group,
            "fsGroup": policy.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(gateway, policy)],
        # The root filesystem is read-only; a proxy still needs somewhere for its pid file and
        # buffered request bodies, and an emptyDir lives and dies with the pod.
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": policy.tmp_size}}],
    }


def _container(gateway: Gateway, policy: WorkloadPolicy) -> dict[str, Any]:
    port = gateway.spec.port
    # TCP, not HTTP: we do not know which paths an arbitrary gateway image answers, but a
    # listening port is what the Service needs before it may send traffic.
    listening = {"tcpSocket": {"port": port}}
    return {
        "name": CONTAINER_NAME,
        "image": gateway.spec.image,
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        # The startup probe holds the other two off while the image starts (up to a minute),
        # so a slow start is not killed by the liveness probe.
        "startupProbe": {**listening, "periodSeconds": 2, "failureThreshold": 30},
        "readinessProbe": {**listening, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**listening, "periodSeconds": 10, "failureThreshold": 3},
        # No CPU limit on purpose: throttling a proxy adds latency to every request; the memory
        # limit keeps a leaking gateway from starving its neighbours. (This is why `make
        # security` skips checkov's CKV_K8S_11 for the tenant objects.)
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def _service(gateway: Gateway, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(gateway, namespace, "Service"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(gateway),
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": gateway.spec.port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _network_policy(gateway: Gateway, namespace: str, policy: WorkloadPolicy) -> Manifest:
    """Only the ingress controller (and, with the client label, pods of this namespace) reach
    the gateway's port; with egress closed, it may resolve names and nothing more."""
    sources: list[dict[str, Any]] = [
        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: policy.ingress_namespace}}}
    ]
    if policy.client_label is not None:
        key, value = policy.client_label
        sources.append({"podSelector": {"matchLabels": {key: value}}})
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector(gateway)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": sources, "ports": [{"port": gateway.spec.port, "protocol": "TCP"}]}],
    }
    if policy.egress == "closed":
        spec["policyTypes"] = ["Ingress", "Egress"]
        dns = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
        ports = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
        spec["egress"] = [{"to": [dns], "ports": ports}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(gateway, namespace, "NetworkPolicy"),
        "spec": spec,
    }


def tls_secret_name(gateway_name: str) -> str:
    """The Secret holding the certificate of a gateway's host (cert-manager writes it)."""
    return f"{object_names(gateway_name)['Ingress']}{TLS_SECRET_SUFFIX}"


def _ingress(gateway: Gateway, namespace: str, host: str, policy: WorkloadPolicy) -> Manifest:
    service = object_names(gateway.name)["Service"]
    backend = {"service": {"name": service, "port": {"number": SERVICE_PORT}}}
    metadata = _metadata(gateway, namespace, "Ingress")
    if policy.tls_issuer is not None:
        metadata["annotations"] = {ISSUER_ANNOTATIONS[policy.tls_issuer_kind]: policy.tls_issuer}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": {
            "ingressClassName": policy.ingress_class,
            "tls": [{"hosts": [host], "secretName": tls_secret_name(gateway.name)}],
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }
