"""The cluster port, counting every request it sends by verb (get, patch, delete, list, watch),
so that polling and watching can be compared from the metrics alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from provisioner.cluster.port import (
    Cluster,
    Listing,
    Manifest,
    WatchEvent,
    require_watchable,
)


class CountedCluster:
    def __init__(self, cluster: Cluster, count: Callable[[str], None]) -> None:
        self._cluster = cluster
        self._count = count

    @property
    def namespace(self) -> str:
        return self._cluster.namespace

    def get(self, kind: str, name: str) -> Manifest | None:
        self._count("get")
        return self._cluster.get(kind, name)

    def apply(self, manifest: Manifest) -> Manifest:
        self._count("patch")
        return self._cluster.apply(manifest)

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        self._count("delete")
        self._cluster.delete(kind, name, uid=uid)

    def list(self, kind: str) -> Listing:
        self._count("list")
        return require_watchable(self._cluster).list(kind)

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        self._count("watch")
        return require_watchable(self._cluster).watch(
            kind, resource_version, timeout_seconds=timeout_seconds
        )
