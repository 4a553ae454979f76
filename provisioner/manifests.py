"""The objects a gateway should have in the cluster, as pure functions of the gateway.

Names derive from the gateway name (at most 40 characters, so every name here fits 63); labels
say who manages the object and for which gateway, so the provisioner never touches an object
that is not its own. `drifted` compares a live object with its desired form the way server-side
apply owns fields: only what we set counts.
"""

from __future__ import annotations

from typing import Any

from outbox.model import Gateway
from provisioner.cluster import (
    GATEWAY_ID_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    Manifest,
)

RESTART_STAMP_ANNOTATION = "gateway-outbox.io/restart-stamp"
NAME_SUFFIX = "-gateway"
SERVICE_PORT = 80
CONTAINER_NAME = "gateway"
PORT_NAME = "http"

# Keys that identify an item of an associative list (containers by name, ports by number), as
# the API's merge keys do. Lists whose items have none of them are atomic (Ingress rules, paths).
_MERGE_KEYS = ("containerPort", "port", "name")


def object_names(gateway_name: str) -> dict[str, str]:
    """The name of each kind's object; all three share one (kinds are separate name spaces)."""
    name = f"{gateway_name}{NAME_SUFFIX}"
    return {"Deployment": name, "Service": name, "Ingress": name}


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
    gateway: Gateway, *, namespace: str, start_timeout_seconds: int
) -> list[Manifest]:
    """Deployment, Service and, when the gateway has a host, Ingress; in that order."""
    objects = [
        _deployment(gateway, namespace, start_timeout_seconds),
        _service(gateway, namespace),
    ]
    if gateway.spec.host is not None:
        objects.append(_ingress(gateway, namespace, gateway.spec.host))
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
        if all(key in item for item in items):
            return key
    return None


def _metadata(gateway: Gateway, namespace: str, kind: str) -> dict[str, Any]:
    return {
        "name": object_names(gateway.name)[kind],
        "namespace": namespace,
        "labels": labels(gateway),
    }


def _deployment(gateway: Gateway, namespace: str, start_timeout_seconds: int) -> Manifest:
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
                "spec": {
                    # A gateway proxies traffic; it has no business with the Kubernetes API.
                    "automountServiceAccountToken": False,
                    "containers": [_container(gateway)],
                },
            },
        },
    }


def _container(gateway: Gateway) -> dict[str, Any]:
    port = gateway.spec.port
    return {
        "name": CONTAINER_NAME,
        "image": gateway.spec.image,
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        # TCP, not HTTP: we do not know which paths an arbitrary gateway image answers, but a
        # listening port is what the Service needs before it may send traffic.
        "readinessProbe": {
            "tcpSocket": {"port": port},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        # No CPU limit on purpose: throttling a proxy adds latency to every request; the memory
        # limit keeps a leaking gateway from starving its neighbours.
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
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


def _ingress(gateway: Gateway, namespace: str, host: str) -> Manifest:
    service = object_names(gateway.name)["Service"]
    backend = {"service": {"name": service, "port": {"number": SERVICE_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(gateway, namespace, "Ingress"),
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }
