"""The insert wake-up: only where the store can watch inserts, a notification per committed
insert, and a watch that fails is resumed (polling covers the gap).

No replica set runs here: the wake-up is driven through a stand-in watch at the store port, the
MongoDB adapter's change stream over a stand-in for pymongo's, and the replica-set detection runs
against the real servers we have (none of which is one).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from outbox.domain.errors import BackendUnavailable
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.changes import INSERTS, ChangeStreamWatch
from outbox.store.mongo.store import MongoStore
from relay import wakeup as wakeup_module
from relay.wakeup import ChangeStreamWakeup
from tests.support.stores import DelegatingStore


class ScriptedInserts:
    def __init__(self, arrivals: list[bool | Exception]) -> None:
        self._arrivals = arrivals
        self.closed = False

    def next(self) -> bool:
        arrival = self._arrivals.pop(0) if self._arrivals else False
        if isinstance(arrival, Exception):
            raise arrival
        return arrival

    def close(self) -> None:
        self.closed = True


class ScriptedWatch:
    """Each `open()` yields the next scripted outcome: a list of arrivals, or an error."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.opened: list[ScriptedInserts] = []

    def open(self) -> ScriptedInserts:
        outcome = self.script.pop(0) if self.script else []
        if isinstance(outcome, Exception):
            raise outcome
        self.opened.append(ScriptedInserts(outcome))
        return self.opened[-1]


class FakeChangeStream:
    def __init__(self, changes: list[Any]) -> None:
        self._changes = changes
        self.closed = False

    def try_next(self) -> Any:
        change = self._changes.pop(0) if self._changes else None
        if isinstance(change, Exception):
            raise change
        return change

    def close(self) -> None:
        self.closed = True


class FakeOutbox:
    def __init__(self, changes: list[Any]) -> None:
        self.changes = changes
        self.pipelines: list[Any] = []

    def watch(self, pipeline: Any, **options: Any) -> FakeChangeStream:
        self.pipelines.append(pipeline)
        return FakeChangeStream(self.changes)


def test_only_a_replica_set_gets_a_wake_up(nx_store: MongoStore) -> None:
    assert MemoryStore().watch_inserts("outbox") is None
    assert nx_store.watch_inserts("outbox") is None  # hello has no setName
    assert DelegatingStore(nx_store).watch_inserts("outbox") is None
    assert ChangeStreamWakeup.when_supported(MemoryStore()) is None
    assert ChangeStreamWakeup.when_supported(nx_store) is None


def test_a_store_that_cannot_be_asked_offers_no_watch() -> None:
    unreachable = MongoStore("mongodb://127.0.0.1:1/?directConnection=true", timeout_seconds=0.2)
    try:
        assert unreachable.watch_inserts("outbox") is None
    finally:
        unreachable.close()


def test_every_insert_wakes_the_relay_and_a_failed_watch_resumes(monkeypatch: Any) -> None:
    monkeypatch.setattr(wakeup_module, "RETRY_SECONDS", 0.01)
    watch = ScriptedWatch(
        [
            BackendUnavailable("primary stepped down"),
            [True, BackendUnavailable("stream broke")],
            [False, True],
        ]
    )
    woken = threading.Semaphore(0)
    wake = ChangeStreamWakeup(watch)
    wake.start(woken.release)
    try:
        assert woken.acquire(timeout=5) and woken.acquire(timeout=5)
    finally:
        wake.stop()
    assert len(watch.opened) >= 2  # watched again after each failure
    assert all(inserts.closed for inserts in watch.opened)


def test_the_change_stream_reports_inserts_and_translates_its_failures() -> None:
    outbox = FakeOutbox([{"insert": 1}, None, AutoReconnect("primary stepped down")])
    inserts = ChangeStreamWatch(outbox, "db:27017").open()

    assert [inserts.next(), inserts.next()] == [True, False]
    with pytest.raises(BackendUnavailable, match="db:27017 is unreachable"):
        inserts.next()
    inserts.close()
    assert outbox.pipelines == [INSERTS] == [[{"$match": {"operationType": "insert"}}]]
