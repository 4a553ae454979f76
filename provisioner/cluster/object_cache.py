"""What the provisioner knows of its objects in the cluster, keyed by kind and name.

Fed by the informer's lists and watch events and by our own writes (read-your-writes). Copies
are ordered by `metadata.resourceVersion`: by API convention it is opaque, but every API server
backed by etcd (all we support) hands out the etcd revision, an integer that grows with every
write in the cluster. We assume that, compare them as integers, and when one cannot be read as
an integer we take the newer copy to be the one that arrived last.
"""

from __future__ import annotations

import threading

from provisioner.cluster.port import ADDED, DELETED, MODIFIED, Manifest, WatchEvent

_Key = tuple[str, str]  # (kind, name)


def version_of(live: Manifest) -> int | None:
    try:
        return int((live.get("metadata") or {}).get("resourceVersion", ""))
    except ValueError:
        return None


def older(candidate: int | None, known: int | None) -> bool:
    """Whether a copy at `candidate` is older than (or the same as) one at `known`."""
    return candidate is not None and known is not None and candidate <= known


def _key(live: Manifest) -> _Key:
    return str(live.get("kind", "")), str((live.get("metadata") or {}).get("name", ""))


class ObjectCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[_Key, Manifest] = {}
        # Versions of objects we deleted or saw deleted: a late event from before the deletion
        # must not bring them back.
        self._gone: dict[_Key, int] = {}
        self._synced: set[str] = set()

    def synced(self, kind: str) -> bool:
        with self._lock:
            return kind in self._synced

    def get(self, kind: str, name: str) -> Manifest | None:
        with self._lock:
            return self._objects.get((kind, name))

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def size(self, kind: str) -> int:
        with self._lock:
            return sum(1 for key in self._objects if key[0] == kind)

    def put(self, live: Manifest) -> bool:
        """Keep `live` unless the cache holds a newer copy; whether it was kept."""
        key, version = _key(live), version_of(live)
        with self._lock:
            held = self._objects.get(key)
            known = version_of(held) if held is not None else self._gone.get(key)
            if older(version, known):
                return False
            self._objects[key] = live
            self._gone.pop(key, None)
            return True

    def remove(self, kind: str, name: str, version: int | None = None) -> bool:
        """Forget an object deleted at `version` (None: as of the copy held); whether it was
        held and not newer than the deletion."""
        key = (kind, name)
        with self._lock:
            held = self._objects.get(key)
            held_version = version_of(held) if held is not None else None
            if version is not None and held_version is not None and version < held_version:
                return False  # the object was created again after this deletion
            self._objects.pop(key, None)
            gone = version if version is not None else held_version
            if gone is not None:
                self._gone[key] = max(gone, self._gone.get(key, gone))
            return held is not None

    def apply(self, event: WatchEvent) -> bool:
        """Take a watch event; whether it changed what the cache holds."""
        if event.type == DELETED:
            return self.remove(event.kind, event.name, version_of(event.object))
        if event.type in (ADDED, MODIFIED):
            return self.put(event.object)
        return False

    def replace(self, kind: str, items: list[Manifest]) -> list[WatchEvent]:
        """A fresh list of `kind`: it becomes what the cache holds. Returns the differences as
        events (what was deleted, added or changed in between), for whoever missed them."""
        listed = {_key(item): item for item in items}
        with self._lock:
            before = {key: live for key, live in self._objects.items() if key[0] == kind}
            for key in before:
                del self._objects[key]
            # A list is the whole truth as of now: earlier deletions need no remembering.
            self._gone = {key: gone for key, gone in self._gone.items() if key[0] != kind}
            self._objects.update(listed)
            self._synced.add(kind)
        missed = [
            WatchEvent(DELETED, kind, live) for key, live in before.items() if key not in listed
        ]
        for key, item in listed.items():
            held = before.get(key)
            if held is None:
                missed.append(WatchEvent(ADDED, kind, item))
            elif version_of(held) != version_of(item):
                missed.append(WatchEvent(MODIFIED, kind, item))
        return missed
