"""Waiting for gateways: on the wait rule, with reads from the store and wake-ups from a change
stream or a poll. Fake time: the waits move a fake clock, and the provisioner's progress is
written into the store at a chosen moment.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from outbox.domain.errors import BackendUnavailable
from outbox.domain.model import Gateway, LastError, Phase, State
from outbox.domain.settling import Target, Verdict
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS, OUTBOX
from outbox.store.repository import UnitOfWork
from outbox.views.waiting import (
    Changes,
    SettledElsewhere,
    WaitTimedOut,
    outcome_error,
    wait_until_settled,
)
from outbox_cli.exit_codes import exit_code  # the command line's mapping of the error
from tests.support.clock import FakeClock, monotonic_of
from tests.support.gateways import make_gateway


class Timed:
    """A fake clock whose sleeps run `due` actions (the provisioner's commits) on time."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.monotonic = monotonic_of(self.clock)
        self.due: list[tuple[float, Callable[[], None]]] = []
        self.sleeps: list[float] = []

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        self.due.append((seconds, action))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)
        for when, action in [d for d in self.due if d[0] <= self.monotonic()]:
            self.due.remove((when, action))
            action()


def stored(store: MemoryStore, gateway: Gateway) -> Gateway:
    UnitOfWork(store).gateways.insert(gateway)
    return gateway


def settle(store: MemoryStore, gateway: Gateway, **changes: object) -> Callable[[], None]:
    def commit() -> None:
        document = gateway.evolve(version=gateway.version + 1, **changes).to_document()
        store.collection(GATEWAYS).replace_one({"_id": gateway.id}, document)

    return commit


STARTED = {"phase": Phase.STARTED, "applied_spec_version": 1}
DEGRADED = {
    "phase": Phase.STOPPED,
    "state": State.STOPPED,
    "last_error": LastError(
        reason="StartTimeout", message="rollout not complete", at=FakeClock().now
    ),
}


def test_a_wait_returns_as_soon_as_the_gateway_settled_as_asked() -> None:
    store, time = MemoryStore(), Timed()
    gateway = stored(store, make_gateway())
    time.at(1.2, settle(store, gateway, **STARTED))

    changes = Changes(store, poll_interval=0.5, sleep=time.sleep, monotonic=time.monotonic)
    (result,) = wait_until_settled(
        store, {gateway.id: Target(Phase.STARTED, 2)}, timeout=60, changes=changes,
        monotonic=time.monotonic,
    )  # fmt: skip

    assert result.verdict is Verdict.MET and result.gateway is not None
    assert result.gateway.phase is Phase.STARTED
    assert time.monotonic() == pytest.approx(1.5)  # the first poll after the commit
    assert outcome_error([result]) is None


def test_a_gateway_degraded_by_its_start_timeout_settled_elsewhere_exit_7() -> None:
    store, time = MemoryStore(), Timed()
    gateway = stored(store, make_gateway())
    time.at(3, settle(store, gateway, **DEGRADED))

    changes = Changes(store, sleep=time.sleep, monotonic=time.monotonic)
    results = wait_until_settled(
        store, {gateway.id: Target(Phase.STARTED, 2)}, timeout=60, changes=changes,
        monotonic=time.monotonic,
    )  # fmt: skip

    error = outcome_error(results)
    assert isinstance(error, SettledElsewhere) and exit_code(error) == 7
    assert str(error) == (
        "edge is Stopped (state Stopped), not Started, last error StartTimeout: rollout not "
        "complete"
    )


def test_a_wait_that_outlasts_its_timeout_reports_what_is_pending_exit_8() -> None:
    store, time = MemoryStore(), Timed()
    gateway = stored(store, make_gateway())

    changes = Changes(store, sleep=time.sleep, monotonic=time.monotonic)
    results = wait_until_settled(
        store, {gateway.id: Target(Phase.STARTED, 2)}, timeout=5, changes=changes,
        monotonic=time.monotonic,
    )  # fmt: skip

    error = outcome_error(results)
    assert isinstance(error, WaitTimedOut) and exit_code(error) == 8
    assert str(error) == "timed out waiting for edge is Starting (state Running), wanted Started"
    assert time.monotonic() == pytest.approx(5)


def test_several_gateways_are_waited_for_together_until_the_last_settles() -> None:
    store, time = MemoryStore(), Timed()
    first = stored(store, make_gateway("one", gateway_id="gw_1"))
    second = stored(store, make_gateway("two", gateway_id="gw_2"))
    time.at(1, settle(store, first, **STARTED))
    time.at(4, settle(store, second, **STARTED))

    changes = Changes(store, sleep=time.sleep, monotonic=time.monotonic)
    results = wait_until_settled(
        store, {g.id: Target(Phase.STARTED, 2) for g in (first, second)}, timeout=60,
        changes=changes, monotonic=time.monotonic,
    )  # fmt: skip

    assert [r.verdict for r in results] == [Verdict.MET, Verdict.MET]
    assert time.monotonic() == pytest.approx(4)


def test_a_deleted_gateway_that_expired_meets_a_deleted_target() -> None:
    store = MemoryStore()
    (result,) = wait_until_settled(store, {"gw_gone": Target(Phase.DELETED)}, timeout=1)
    assert result.verdict is Verdict.MET and result.gateway is None


class FakeInserts:
    def __init__(self, signals: list[bool | Exception]) -> None:
        self.signals = signals
        self.closed = False

    def next(self) -> bool:
        signal = self.signals.pop(0) if self.signals else False
        if isinstance(signal, Exception):
            raise signal
        return signal

    def close(self) -> None:
        self.closed = True


class WatchingStore(MemoryStore):
    """A store with change streams on the outbox, fed by the test."""

    def __init__(self, inserts: FakeInserts) -> None:
        super().__init__()
        self.inserts = inserts
        self.watched: list[str] = []

    def watch_inserts(self, name: str) -> FakeWatch:
        self.watched.append(name)
        return FakeWatch(self.inserts)


class FakeWatch:
    def __init__(self, inserts: FakeInserts) -> None:
        self.inserts = inserts

    def open(self) -> FakeInserts:
        return self.inserts


def test_with_a_change_stream_a_wait_ends_at_the_next_insert_into_the_outbox() -> None:
    inserts = FakeInserts([False, False, True])
    store, time = WatchingStore(inserts), Timed()

    changes = Changes(store, sleep=time.sleep, monotonic=time.monotonic)
    changes.wait(30)

    assert store.watched == [OUTBOX]
    assert inserts.signals == [] and time.sleeps == []  # woken by the stream, no polling


def test_a_broken_change_stream_falls_back_to_polling_and_is_closed() -> None:
    inserts = FakeInserts([BackendUnavailable("change stream lost")])
    store, time = WatchingStore(inserts), Timed()

    changes = Changes(store, poll_interval=0.5, sleep=time.sleep, monotonic=time.monotonic)
    changes.wait(30)

    assert inserts.closed and time.sleeps == [0.5]
