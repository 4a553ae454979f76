"""A daemon killed in-process: once its switch is thrown, every call it makes to MongoDB or
Redis raises `Killed`, a BaseException that no handler of the product catches. Its threads die
where they stand, without any cleanup: leases are not released, heartbeats not removed, pending
entries not acked (as after SIGKILL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from outbox.store.port import Collections, Store
from outbox.stream import EventStream


class Killed(BaseException):
    """The process this daemon stands for was killed."""


class KillSwitch:
    def __init__(self) -> None:
        self._thrown = threading.Event()

    def throw(self) -> None:
        self._thrown.set()

    def check(self) -> None:
        if self._thrown.is_set():
            raise Killed

    def wait(self, seconds: float) -> None:
        """The daemon's pause: cut short, and fatal, once thrown."""
        self._thrown.wait(seconds)
        self.check()


class _Checked:
    """Every method of `target` (and of the collections and streams it hands out) checks the
    switch first."""

    def __init__(self, target: Any, switch: KillSwitch) -> None:
        self._target, self._switch = target, switch

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def checked(*args: Any, **kwargs: Any) -> Any:
            self._switch.check()
            result = value(*args, **kwargs)
            self._switch.check()  # a reply that arrives after the kill is never seen
            return _wrap(result, self._switch)

        return checked


def _wrap(result: Any, switch: KillSwitch) -> Any:
    if hasattr(result, "find_one") or hasattr(result, "read_new"):
        return _Checked(result, switch)
    return result


class KillableStore(_Checked):
    def transaction(self, work: Callable[[Collections], Any]) -> Any:
        self._switch.check()
        target: Store = self._target
        return target.transaction(lambda collections: work(_Checked(collections, self._switch)))


def killable_store(store: Store, switch: KillSwitch) -> Store:
    return KillableStore(store, switch)  # type: ignore[return-value]


def killable_stream(stream: EventStream, switch: KillSwitch) -> EventStream:
    return _Checked(stream, switch)  # type: ignore[return-value]
