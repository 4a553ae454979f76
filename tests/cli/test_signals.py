"""SIGTERM stops a daemon wherever it lands: the handler itself takes no lock and writes nothing.

A handler runs on the main thread between two bytecodes. Had it called `stop()` directly, a
signal landing while the main thread held the lock of the Event it waits on would deadlock, and
one landing inside a write to stderr would lose the stop to "reentrant call".
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from outbox_cli.signals import stop_on_signals
from tests.support.waiting import became_true


@pytest.fixture(autouse=True)
def restored_signals() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def deliver_sigterm() -> None:
    """Run the installed handler as the interpreter would: on this (the main) thread."""
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    handler(signal.SIGTERM, None)


def test_sigterm_arriving_while_the_main_thread_holds_the_stop_lock_still_stops() -> None:
    # Given a daemon whose stop() needs a lock the main thread holds when the signal lands
    lock = threading.Lock()
    stopped: list[bool] = []
    stop_on_signals(lambda: stopped.append(lock.acquire(timeout=2)))

    with lock:
        deliver_sigterm()  # a handler calling stop() here would wait for itself
        assert stopped == []

    assert became_true(lambda: stopped == [True], timeout=5.0)
    # A second SIGTERM is left to the default action: the way out of a stop that hangs.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
