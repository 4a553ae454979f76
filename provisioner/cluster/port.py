"""The cluster port: what the provisioner needs from Kubernetes, and the errors it can raise.

Objects travel as plain dicts in the API's JSON form (`apiVersion`, `kind`, `metadata`, `spec`,
`status`), so the pure decisions (manifests, rollout status, drift) never see a client library.
Two adapters implement the port: `MemoryCluster` (demo and tests) and `KubernetesCluster`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from outbox.domain.errors import OutboxError

Manifest = dict[str, Any]

KINDS = ("Deployment", "Service", "NetworkPolicy", "Ingress")
API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
}

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gateway-outbox"
INSTANCE_LABEL = "app.kubernetes.io/instance"
GATEWAY_ID_LABEL = "gateway-outbox.io/gateway-id"
FIELD_MANAGER = "gateway-outbox"


class ClusterError(OutboxError):
    """Base of the errors cluster adapters raise; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class TemporaryClusterError(ClusterError):
    """Worth retrying with back-off: 409, 429, 5xx, timeouts, connection errors."""


class PermanentClusterError(ClusterError):
    """Retrying the same request cannot help (422 and other 4xx): a person must look."""


class ForeignObject(PermanentClusterError):
    """An object with the gateway's name exists but is not ours: we never change or delete it."""


class ResourceExpired(TemporaryClusterError):
    """410 Gone: the resourceVersion a watch resumes from is older than the server keeps; list
    again."""


class ClusterConfigError(ClusterError):
    """No usable cluster configuration (no kubeconfig, not in a pod, a context that is missing)."""


def error_for_status(status: int, message: str) -> ClusterError:
    """The typed error for an HTTP status of the Kubernetes API.

    409 (a conflict or an object still being deleted), 408, 429 and 5xx pass with time; any
    other 4xx (422 invalid, 403 forbidden, 404 namespace missing) needs a person.
    """
    if status in (408, 409, 429) or status >= 500:
        return TemporaryClusterError(message, status=status)
    if 400 <= status < 500:
        return PermanentClusterError(message, status=status)
    # No HTTP answer at all (status 0: the transport failed) is a connection problem.
    return TemporaryClusterError(message, status=status or None)


class Cluster(Protocol):
    """Namespaced access to the gateway objects, by kind and name."""

    @property
    def namespace(self) -> str: ...

    def get(self, kind: str, name: str) -> Manifest | None:
        """The live object, or None when it does not exist."""
        ...

    def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply (one field manager, force), creating when missing; the live object."""
        ...

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        """Delete; an object that is already gone counts as deleted.

        With `uid`, only that very object: one that changed hands since it was read (deleted and
        created again by somebody else) is left alone, and the call fails as a 409 conflict.
        """
        ...


# What a watch reports; BOOKMARK only moves the resourceVersion on (its object has no content).
ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK
    kind: str
    object: Manifest

    @property
    def name(self) -> str:
        return str((self.object.get("metadata") or {}).get("name", ""))

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion", ""))


@dataclass(frozen=True)
class Listing:
    """Every object of a kind carrying our managed-by label, and the version to watch from."""

    items: list[Manifest]
    resource_version: str


@runtime_checkable
class WatchableCluster(Cluster, Protocol):
    """A cluster that can also list and watch the objects carrying our managed-by label (both
    adapters, `MemoryCluster` and `KubernetesCluster`, can)."""

    def list(self, kind: str) -> Listing: ...

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        """Changes after `resource_version` until the server ends the watch (after about
        `timeout_seconds`); raises ResourceExpired (410) or a TemporaryClusterError when the
        connection drops."""
        ...


def watchable(cluster: Cluster) -> WatchableCluster | None:
    """The cluster as one that can list and watch, when its type offers that; else None (a
    cluster that can only get, apply and delete is observed by polling)."""
    return cluster if isinstance(cluster, WatchableCluster) else None


def require_watchable(cluster: Cluster) -> WatchableCluster:
    """The cluster as one that can list and watch; TypeError for one that cannot (a wrapper
    asked to list or watch over a cluster that only gets, applies and deletes)."""
    found = watchable(cluster)
    if found is None:
        raise TypeError(f"{type(cluster).__name__} cannot list or watch")
    return found


def managed(live: Manifest) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def gateway_of(live: Manifest) -> str | None:
    """The gateway id an object of ours is labelled with, if any."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    value = labels.get(GATEWAY_ID_LABEL)
    return str(value) if value and managed(live) else None


def owned_by(live: Manifest, gateway_id: str) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(GATEWAY_ID_LABEL) == gateway_id
