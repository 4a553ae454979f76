"""Signal handling lives here, at the edge: daemons only expose stop()."""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

# After the grace period: time for a daemon to release its lease or heartbeat and log what it did.
GOODBYE_SECONDS = 2.0


def stop_on_signals(stop: Callable[[], object]) -> None:
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


def stop_within_grace(
    daemon: str, stop: Callable[[], None], grace_seconds: float
) -> threading.Timer:
    """The shutdown rule of both daemons.

    `stop()` makes the daemon take no new work. The work in flight (the relay's batch, the
    provisioner's gateways in hand) has OUTBOX_GRACE_SECONDS, counted from now, to finish; then
    the daemon says goodbye (releases its lease, removes its heartbeat), logs what it did and
    returns. What is unfinished by then is left to another instance: the provisioner stops
    waiting for it (its entries stay pending and are reclaimed), and a daemon still not back
    GOODBYE_SECONDS later (a call stuck in a backend) is left behind: the process exits with
    status 1 and its lease or heartbeat expires by itself (the relay's batch is then published
    again, once). Returns the timer that enforces it.
    """
    stop()

    def give_up() -> None:
        log.error(
            "%s did not stop within its %.0fs grace period; exiting (its lease or heartbeat "
            "expires by itself)",
            daemon,
            grace_seconds,
        )
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(grace_seconds + GOODBYE_SECONDS, give_up)
    timer.daemon = True
    timer.start()
    return timer
