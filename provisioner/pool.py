"""A pool of workers keyed by gateway: different gateways in parallel, one gateway never twice.

A gateway submitted while a worker handles it is not queued again: the worker makes one more
pass when it finishes (handling is level-triggered, so one pass covers every request that came
in meanwhile), then reports to every waiting caller: what the pass returned, or None when it
failed (or never ran).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from outbox.domain.errors import OutboxError
from outbox.runtime.logs import ids

log = logging.getLogger(__name__)

R = TypeVar("R")
Done = Callable[[R | None], None]


class KeyedPool(Generic[R]):
    def __init__(self, *, workers: int, handle: Callable[[str], R], name: str = "worker") -> None:
        self._handle = handle
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting: dict[str, list[Done[R]]] = {}  # key -> callers the next pass answers
        self._scheduled: set[str] = set()  # queued or being handled
        self._active = 0
        self._closing = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: str, done: Done[R] | None = None) -> None:
        with self._lock:
            self._waiting.setdefault(key, []).append(done or _nothing)
            if key in self._scheduled:
                return
            self._scheduled.add(key)
        self._queue.put(key)

    @property
    def busy(self) -> int:
        """Gateways queued or in hand."""
        with self._lock:
            return len(self._scheduled)

    def in_hand(self) -> list[str]:
        """The keys queued or being handled now."""
        with self._lock:
            return list(self._scheduled)

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._scheduled:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, grace: float) -> bool:
        """Start nothing new; wait up to `grace` for the passes in hand. True when all finished.

        Gateways still queued are dropped with `done(None)`: their entries stay pending for
        another consumer (or this one after a restart).
        """
        with self._lock:
            self._closing = True
        self._drop_queued()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + grace
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _drop_queued(self) -> None:
        while True:
            try:
                key = self._queue.get_nowait()
            except queue.Empty:
                return
            if key is None:
                continue
            with self._lock:
                callers = self._waiting.pop(key, [])
                self._scheduled.discard(key)
                self._idle.notify_all()
            for done in callers:
                done(None)

    def _work(self) -> None:
        while (key := self._queue.get()) is not None:
            while True:
                with self._lock:
                    callers = self._waiting.pop(key, [])
                    closing = self._closing
                    self._active += 0 if closing else 1
                if closing:
                    for done in callers:
                        done(None)
                    with self._lock:
                        self._scheduled.discard(key)
                        self._idle.notify_all()
                    break
                self._answer(callers, self._run(key))
                with self._lock:
                    self._active -= 1
                    if self._waiting.get(key):
                        continue  # more requests came in during the pass: one more pass
                    self._scheduled.discard(key)
                    self._idle.notify_all()
                    break

    def _answer(self, callers: list[Done[R]], result: R | None) -> None:
        for done in callers:
            try:
                done(result)
            except Exception:  # one caller's failure (an ack that failed) must not stop the rest
                log.exception("reporting the end of a pass failed")

    def _run(self, key: str) -> R | None:
        try:
            return self._handle(key)
        except OutboxError as error:  # expected (an outage): one line; the entry stays pending
            kind = type(error).__name__
            log.error(
                "handling %s failed: %s: %s",
                key,
                kind,
                error,
                extra=ids(gateway_id=key, error_kind=kind),
            )
            log.debug("handling %s failed", key, exc_info=True)
        except Exception as error:  # a bug: the whole story, but never fatal to the daemon
            log.exception(
                "handling %s failed",
                key,
                extra=ids(gateway_id=key, error_kind=type(error).__name__),
            )
        return None


def _nothing(result: object) -> None:
    return None
