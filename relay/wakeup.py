"""Change-stream wake-up: tells the relay at once when an outbox event commits.

Only real replica sets have change streams worth relying on; elsewhere the relay just polls.
Polling stays on in any case, so a wake-up that is lost (the watch restarting) only costs latency.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pymongo.errors import PyMongoError

from outbox.mongo_store import MongoStore
from outbox.store import OUTBOX, Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class ChangeStreamWakeup:
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def when_supported(cls, store: Store) -> ChangeStreamWakeup | None:
        """A wake-up for a MongoDB replica set; None for anything else (then the relay polls)."""
        if not isinstance(store, MongoStore):
            return None
        try:
            hello = store.client.admin.command("hello")
        except PyMongoError as error:
            log.info("no change-stream wake-up (%s); polling only", error)
            return None
        if not hello.get("setName"):
            log.info(
                "no change-stream wake-up: %s is not a replica set; polling only", store.description
            )
            return None
        return cls(store)

    def start(self, notify: Callable[[], None]) -> None:
        self._thread = threading.Thread(
            target=self._watch, args=(notify,), name="outbox-wakeup", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _watch(self, notify: Callable[[], None]) -> None:
        failing = False
        pipeline = [{"$match": {"operationType": "insert"}}]
        while not self._stopping.is_set():
            try:
                with self._store.database[OUTBOX].watch(pipeline, max_await_time_ms=500) as stream:
                    if failing:
                        log.info("change-stream wake-up resumed")
                        failing = False
                    while not self._stopping.is_set():
                        if stream.try_next() is not None:
                            notify()
            except PyMongoError as error:
                if not failing:
                    log.warning(
                        "change-stream wake-up failed (%s); polling until it resumes", error
                    )
                    failing = True
                self._stopping.wait(RETRY_SECONDS)
