"""Keeps an `ObjectCache` of our objects current: list once, then watch, per kind.

One thread per kind lists the objects carrying our managed-by label, then watches from the
list's resourceVersion until the server ends the watch, and again from the last version seen
(bookmarks move it on too). `410 Gone` means that version is too old: list again, and report
the differences as events, since the watch missed them. A dropped connection or a failed
request is retried with back-off from the last version. Listeners hear every event that
changed the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import (
    BOOKMARK,
    KINDS,
    ClusterError,
    ResourceExpired,
    WatchableCluster,
    WatchEvent,
)

log = logging.getLogger(__name__)

Listener = Callable[[WatchEvent], None]
# A watch the server ends sooner than this, with nothing to report, counts as a failed attempt:
# a server (or proxy) that closes every watch at once must not have us reconnect in a hot loop.
SHORTEST_WATCH = 1.0


def watch_backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... at most 30 s between attempts to list or watch again."""
    return float(min(30.0, 0.5 * 2**attempt))


class Informer:
    def __init__(
        self,
        cluster: WatchableCluster,
        cache: ObjectCache,
        *,
        timeout_seconds: float = 300.0,
        backoff: Callable[[int], float] = watch_backoff,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: Callable[[str], None] = lambda kind: None,
        on_relist: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self._cluster = cluster
        self.cache = cache
        self._timeout = timeout_seconds
        self._backoff = backoff
        self._monotonic = monotonic
        self._on_event = on_event
        self._on_relist = on_relist
        self._listeners: list[Listener] = []
        self._stopping = threading.Event()
        self._versions: dict[str, str | None] = dict.fromkeys(KINDS)
        self._listed: set[str] = set()
        self._last_event: dict[str, float] = {}
        self._started = monotonic()
        self._synced = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, args=(kind,), name=f"watch-{kind}", daemon=True)
            for kind in KINDS
        ]

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` (on a watch thread) with every event that changed the cache."""
        self._listeners.append(listener)

    def start(self) -> Informer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching, waiting `timeout` seconds at most for all the threads together (not
        for each): a watch blocked in a read ends only with its next event or bookmark, and
        the threads are daemons, so none of them holds up the exit."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def synced(self) -> bool:
        """Every kind has been listed once: the cache can answer for all of them."""
        return all(self.cache.synced(kind) for kind in KINDS)

    def wait_synced(self, timeout: float) -> bool:
        with self._synced:
            return self._synced.wait_for(lambda: self.synced, timeout)

    def seconds_since_event(self, kind: str) -> float:
        """Since the last event of `kind` (or since the start, before the first one)."""
        return self._monotonic() - self._last_event.get(kind, self._started)

    # -- one kind, on its own thread -------------------------------------------------------

    def _run(self, kind: str) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                if self._versions[kind] is None:
                    self._list(kind)
                began = self._monotonic()
                if self._follow(kind) or self._monotonic() - began >= SHORTEST_WATCH:
                    attempt = 0
                    continue
                self._stopping.wait(self._backoff(attempt))
                attempt += 1
            except ResourceExpired as error:
                # Listing again is what the server asks for; no reason to wait first.
                log.info("watch of %s expired (%s): listing again", kind, error)
                self._versions[kind] = None
            except ClusterError as error:
                self._back_off(kind, attempt, error)
                attempt += 1
            except Exception as error:  # a bug must not end the watch of a kind for good
                log.exception("watch of %s failed unexpectedly", kind)
                self._back_off(kind, attempt, error)
                attempt += 1

    def _back_off(self, kind: str, attempt: int, error: Exception) -> None:
        delay = self._backoff(attempt)
        log.warning(
            "watch of %s failed (%s); again in %.1fs from version %s",
            kind,
            error,
            delay,
            self._versions[kind] or "a new list",
        )
        self._stopping.wait(delay)

    def _list(self, kind: str) -> None:
        listing = self._cluster.list(kind)
        missed = self.cache.replace(kind, listing.items)
        self._versions[kind] = listing.resource_version
        with self._synced:
            self._synced.notify_all()
        if kind in self._listed:
            self._on_relist(kind)
            log.info("listed %s again: %d changes missed by the watch", kind, len(missed))
            for event in missed:
                self._tell(event)
        self._listed.add(kind)

    def _follow(self, kind: str) -> bool:
        """Watch until the server ends it; whether anything came (an event or a bookmark)."""
        version = self._versions[kind]
        assert version is not None
        heard = False
        for event in self._cluster.watch(kind, version, timeout_seconds=self._timeout):
            if self._stopping.is_set():
                return True
            heard = True
            self._versions[kind] = event.resource_version or self._versions[kind]
            if event.type == BOOKMARK:
                continue
            self._on_event(kind)
            self._last_event[kind] = self._monotonic()
            if self.cache.apply(event):
                self._tell(event)
        return heard

    def _tell(self, event: WatchEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # one listener's bug must not end the watch
                log.exception("a listener failed on %s %s %s", event.type, event.kind, event.name)
