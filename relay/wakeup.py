"""Insert wake-up: tells the relay at once when an outbox event commits.

Only stores that can watch inserts (MongoDB replica sets, by change streams) offer it; elsewhere
the relay just polls. Polling stays on in any case, so a wake-up that is lost (the watch
restarting) only costs latency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import closing

from outbox.domain.errors import BackendUnavailable
from outbox.store.port import OUTBOX, InsertWatch, Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class ChangeStreamWakeup:
    def __init__(self, watch: InsertWatch) -> None:
        self._watch = watch
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @classmethod
    def when_supported(cls, store: Store) -> ChangeStreamWakeup | None:
        """A wake-up where the store can watch the outbox's inserts; None elsewhere (then the
        relay polls)."""
        watch = store.watch_inserts(OUTBOX)
        if watch is None:
            log.info(
                "no change-stream wake-up: %s cannot watch inserts; polling only", store.description
            )
            return None
        return cls(watch)

    def start(self, notify: Callable[[], None]) -> None:
        self._thread = threading.Thread(
            target=self._watch_until_stopped,
            args=(notify,),
            name="outbox-wakeup",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch_until_stopped(self, notify: Callable[[], None]) -> None:
        while not self._stopping.is_set():
            try:
                self._follow(notify)
            except BackendUnavailable as error:
                if not self._failing:
                    log.warning(
                        "change-stream wake-up failed (%s); polling until it resumes", error
                    )
                    self._failing = True
                self._stopping.wait(RETRY_SECONDS)

    def _follow(self, notify: Callable[[], None]) -> None:
        with closing(self._watch.open()) as inserts:
            if self._failing:
                log.info("change-stream wake-up resumed")
                self._failing = False
            while not self._stopping.is_set():
                if inserts.next():
                    notify()
