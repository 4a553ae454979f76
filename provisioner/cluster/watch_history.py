"""The history of changes a watch is served from, as an API server keeps it.

Shared by the in-memory cluster and the tests' API server emulator, so that both answer watches
alike: changes after a resourceVersion, `410 Gone` for one older than the history still holds
(it is bounded, and can be told to forget), and open watches that can be dropped on command.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from provisioner.cluster.port import ADDED, DELETED, MODIFIED, Manifest, ResourceExpired

Selector = Callable[[Manifest], bool]


@dataclass(frozen=True)
class Change:
    version: int
    kind: str
    namespace: str
    type: str  # ADDED, MODIFIED or DELETED
    object: Manifest  # after the change; for DELETED, as it was last
    previous: Manifest | None  # before the change (None when created)


def visible_as(change: Change, selected: Selector) -> str | None:
    """What a watch with a label selector reports of a change, as the API server does: an object
    that starts to match is ADDED, one that stops matching is DELETED, others are not seen."""
    now = change.type != DELETED and selected(change.object)
    before = change.previous is not None and selected(change.previous)
    if change.type == DELETED:
        return DELETED if selected(change.object) else None
    if now and before:
        return MODIFIED
    if now:
        return ADDED
    return DELETED if before else None


class WatchHistory:
    def __init__(self, *, keep: int = 10_000) -> None:
        self._changed = threading.Condition()
        self._changes: deque[Change] = deque(maxlen=keep)
        self._forgotten = 0  # changes up to this version are no longer held
        self._drops = 0

    def record(self, change: Change) -> None:
        with self._changed:
            if len(self._changes) == self._changes.maxlen:
                self._forgotten = self._changes[0].version
            self._changes.append(change)
            self._changed.notify_all()

    def expire(self, version: int) -> None:
        """Forget every change up to `version`: a watch from an older version gets 410 Gone."""
        with self._changed:
            self._forgotten = max(self._forgotten, version)
            while self._changes and self._changes[0].version <= version:
                self._changes.popleft()
            self._changed.notify_all()

    def drop(self) -> None:
        """Every open watch ends as if its connection had dropped."""
        with self._changed:
            self._drops += 1
            self._changed.notify_all()

    @property
    def drops(self) -> int:
        with self._changed:
            return self._drops

    def wait(self, after: int, drops: int, timeout: float) -> tuple[list[Change], bool]:
        """The changes after version `after`, waiting up to `timeout` for one; and whether the
        watch was dropped since it saw `drops`. Raises ResourceExpired for a forgotten version."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._drops != drops or self._newest() > after or after < self._forgotten,
                timeout,
            )
            if after < self._forgotten:
                raise ResourceExpired(
                    f"too old resource version: {after} ({self._forgotten})", status=410
                )
            return [c for c in self._changes if c.version > after], self._drops != drops

    def _newest(self) -> int:
        return self._changes[-1].version if self._changes else 0
