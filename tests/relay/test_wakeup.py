"""The change-stream wake-up: only on replica sets, a notification per committed insert, and a
watch that fails is resumed (polling covers the gap).

No replica set runs here, so the watch itself is a stand-in for pymongo's change stream; the
replica-set detection runs against the real servers we have (none of which is one).
"""

from __future__ import annotations

import threading
from typing import Any

from pymongo.errors import AutoReconnect

from outbox.memory_store import MemoryStore
from outbox.mongo_store import MongoStore
from relay import wakeup as wakeup_module
from relay.wakeup import ChangeStreamWakeup


class FakeChangeStream:
    def __init__(self, changes: list[Any]) -> None:
        self._changes = changes

    def __enter__(self) -> FakeChangeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def try_next(self) -> Any:
        return self._changes.pop(0) if self._changes else None


class FakeOutbox:
    """Each watch call yields the next scripted outcome: a list of changes, or an error."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.pipelines: list[Any] = []

    def watch(self, pipeline: Any, **options: Any) -> FakeChangeStream:
        self.pipelines.append(pipeline)
        outcome = self.script.pop(0) if self.script else []
        if isinstance(outcome, Exception):
            raise outcome
        return FakeChangeStream(outcome)


def test_only_a_replica_set_gets_a_wake_up(nx_store: MongoStore) -> None:
    assert ChangeStreamWakeup.when_supported(MemoryStore()) is None
    assert ChangeStreamWakeup.when_supported(nx_store) is None  # hello has no setName


def test_every_insert_wakes_the_relay_and_a_failed_watch_resumes(
    nx_store: MongoStore, monkeypatch: Any
) -> None:
    monkeypatch.setattr(wakeup_module, "RETRY_SECONDS", 0.01)
    outbox = FakeOutbox([AutoReconnect("primary stepped down"), [{"insert": 1}, {"insert": 2}]])
    monkeypatch.setattr(nx_store, "database", {"outbox": outbox})
    woken = threading.Semaphore(0)
    wake = ChangeStreamWakeup(nx_store)
    wake.start(woken.release)
    try:
        assert woken.acquire(timeout=5) and woken.acquire(timeout=5)
    finally:
        wake.stop()
    assert outbox.pipelines[0] == [{"$match": {"operationType": "insert"}}]
    assert len(outbox.pipelines) >= 2  # watched again after the failure
