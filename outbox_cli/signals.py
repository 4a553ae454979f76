"""Signal handling lives here, at the edge: daemons only expose stop()."""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT ask the daemon to stop; a second signal is left to the default.

    The handler runs on the main thread between two bytecodes, possibly while that thread holds
    a lock that `stop()` needs (an Event's, in the middle of its wait) or is inside a write to
    stderr: calling `stop()` or logging there can deadlock. So the handler only hands the signal
    to a watcher thread, through the one queue that is safe to put to from a signal handler.
    """
    received: queue.SimpleQueue[int] = queue.SimpleQueue()

    def handle(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signum, signal.SIG_DFL)
        received.put(signum)

    def watch() -> None:
        signum = received.get()
        stop()
        log.info("%s received: stopping", signal.Signals(signum).name)

    threading.Thread(target=watch, name="signals", daemon=True).start()
    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
