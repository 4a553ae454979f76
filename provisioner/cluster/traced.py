"""The cluster port, with a client span per Kubernetes call the reconciler makes (get, apply,
delete): children of the reconcile step's span, so that a slow apply shows inside its trace.

Lists and watches pass through untraced: the informer's long-lived watches belong to no step.
It wraps the cluster below the watch-fed cache, so that reads the cache answers make no span.
"""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.trace import SpanKind

from outbox.runtime import tracing
from provisioner.cluster.port import (
    Cluster,
    Listing,
    Manifest,
    WatchEvent,
    require_watchable,
)


class TracedCluster:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    @property
    def namespace(self) -> str:
        return self._cluster.namespace

    def get(self, kind: str, name: str) -> Manifest | None:
        with tracing.span(f"kubernetes get {kind}", kind=SpanKind.CLIENT) as span:
            span.set_attributes(self._object(kind, name))
            return self._cluster.get(kind, name)

    def apply(self, manifest: Manifest) -> Manifest:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        with tracing.span(f"kubernetes apply {kind}", kind=SpanKind.CLIENT) as span:
            span.set_attributes(self._object(kind, name))
            return self._cluster.apply(manifest)

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        with tracing.span(f"kubernetes delete {kind}", kind=SpanKind.CLIENT) as span:
            span.set_attributes(self._object(kind, name))
            self._cluster.delete(kind, name, uid=uid)

    def list(self, kind: str) -> Listing:
        return require_watchable(self._cluster).list(kind)

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        return require_watchable(self._cluster).watch(
            kind, resource_version, timeout_seconds=timeout_seconds
        )

    def _object(self, kind: str, name: str) -> dict[str, str]:
        return {"k8s.namespace.name": self.namespace, "k8s.object.kind": kind, "k8s.object": name}
