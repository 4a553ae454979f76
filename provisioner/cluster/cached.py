"""The cluster port answered from the informer's cache: reads cost no API request once synced.

Writes go to the cluster, and their answers into the cache at once (read-your-writes), so the
next step does not redo the work on a view the watch has not caught up with yet. Before a kind
has synced, reads fall back to a GET. The cache holds only objects with our managed-by label, so
a name missing from it may still be somebody else's: before applying an object it does not
hold, the foreign-object check looks by name with a GET.
"""

from __future__ import annotations

import copy

from provisioner.cluster.informer import Informer
from provisioner.cluster.port import (
    ForeignObject,
    Manifest,
    WatchableCluster,
    managed,
)


class CachedCluster:
    def __init__(self, cluster: WatchableCluster, informer: Informer) -> None:
        self._cluster = cluster
        self.informer = informer
        self._cache = informer.cache

    @property
    def namespace(self) -> str:
        return self._cluster.namespace

    @property
    def synced(self) -> bool:
        return self.informer.synced

    def get(self, kind: str, name: str) -> Manifest | None:
        if not self._cache.synced(kind):
            return self._fetch(kind, name)
        held = self._cache.get(kind, name)
        # A copy: the cache's own must not change under a decision that edits what it got.
        return None if held is None else copy.deepcopy(held)

    def apply(self, manifest: Manifest) -> Manifest:
        kind = str(manifest.get("kind", ""))
        name = str((manifest.get("metadata") or {}).get("name", ""))
        if self._cache.synced(kind) and self._cache.get(kind, name) is None:
            live = self._fetch(kind, name)
            if live is not None and not managed(live):
                raise ForeignObject(
                    f"{kind} {name} in namespace {self.namespace} exists without our labels; "
                    "it is left untouched"
                )
        live = self._cluster.apply(manifest)
        self._cache.put(live)
        return live

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        self._cluster.delete(kind, name, uid=uid)
        # Gone as far as we know; the watch brings it back if it lingers (foreground deletion).
        self._cache.remove(kind, name)

    def _fetch(self, kind: str, name: str) -> Manifest | None:
        live = self._cluster.get(kind, name)
        if live is not None and managed(live):
            self._cache.put(live)
        return live
