"""The objects a gateway should have in the cluster, as pure functions of the gateway.

Names derive from the gateway name (at most 40 characters, so every name here fits 63); labels
say who manages the object and for which gateway, so the provisioner never touches an object
that is not its own.
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
SPEC_VERSION_ANNOTATION = "gateway-outbox.io/spec-version"


def object_names(gateway_name: str) -> dict[str, str]:
    name = f"{gateway_name}-gateway"
    return {"Deployment": name, "Service": name, "Ingress": name}


def labels(gateway: Gateway) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        INSTANCE_LABEL: gateway.name,
        GATEWAY_ID_LABEL: gateway.id,
    }


def desired_objects(
    gateway: Gateway, *, namespace: str, start_timeout_seconds: int
) -> list[Manifest]:
    objects = [
        _deployment(gateway, namespace, start_timeout_seconds),
        _service(gateway, namespace),
    ]
    if gateway.spec.host is not None:
        objects.append(_ingress(gateway, namespace, gateway.spec.host))
    return objects


def undesired_kinds(gateway: Gateway) -> list[str]:
    """Kinds the gateway once had and should not have now (the Ingress after the host went)."""
    return [] if gateway.spec.host is not None else ["Ingress"]


def drifted(desired: Manifest, live: Manifest | None) -> bool:
    """Whether the live object lacks, or differs in, any field we set (as apply would own them)."""
    if live is None:
        return True
    return not _contains(live.get("metadata", {}), _owned_metadata(desired)) or not _contains(
        live.get("spec", {}), desired.get("spec", {})
    )


def _owned_metadata(manifest: Manifest) -> dict[str, Any]:
    metadata = manifest.get("metadata", {})
    return {key: metadata[key] for key in ("name", "labels", "annotations") if key in metadata}


def _contains(live: Any, desired: Any) -> bool:
    """Every field of `desired` is in `live` with the same value; `live` may have more."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and _contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(_contains(item, wanted) for item, wanted in zip(live, desired, strict=True))
        )
    return bool(_same_scalar(live, desired))


def _same_scalar(live: Any, desired: Any) -> bool:
    # The API server hands back numbers as written, but quantities and ports may round-trip as
    # strings; compare their text so a harmless representation change is not drift.
    return live == desired or str(live) == str(desired)


def _metadata(gateway: Gateway, namespace: str, kind: str) -> dict[str, Any]:
    return {
        "name": object_names(gateway.name)[kind],
        "namespace": namespace,
        "labels": labels(gateway),
    }


def _deployment(gateway: Gateway, namespace: str, start_timeout_seconds: int) -> Manifest:
    spec = gateway.spec
    selector = {INSTANCE_LABEL: gateway.name, GATEWAY_ID_LABEL: gateway.id}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(gateway, namespace, "Deployment"),
        "spec": {
            "replicas": spec.replicas,
            # Kubernetes marks the rollout failed (ProgressDeadlineExceeded) when our timeout
            # would fire anyway, so both agree on what "too slow" means.
            "progressDeadlineSeconds": start_timeout_seconds,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": {**labels(gateway)},
                    # The restart stamp is the version of the restart request: re-applying the
                    # same step renders the same template, so it never starts a second rollout.
                    "annotations": {RESTART_STAMP_ANNOTATION: str(gateway.restart_stamp)},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "gateway",
                            "image": spec.image,
                            "ports": [{"name": "http", "containerPort": spec.port}],
                            "readinessProbe": {
                                "tcpSocket": {"port": spec.port},
                                "periodSeconds": 5,
                                "failureThreshold": 3,
                            },
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def _service(gateway: Gateway, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(gateway, namespace, "Service"),
        "spec": {
            "type": "ClusterIP",
            "selector": {INSTANCE_LABEL: gateway.name, GATEWAY_ID_LABEL: gateway.id},
            "ports": [
                {"name": "http", "port": 80, "targetPort": gateway.spec.port, "protocol": "TCP"}
            ],
        },
    }


def _ingress(gateway: Gateway, namespace: str, host: str) -> Manifest:
    service = object_names(gateway.name)["Service"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(gateway, namespace, "Ingress"),
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
