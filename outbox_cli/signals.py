"""Signal handling lives here, at the edge: daemons only expose stop()."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT ask the daemon to stop; a second signal is left to the default."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        # Stop first: the handler runs on the main thread between two bytecodes, possibly inside
        # a write to stderr, where logging again raises "reentrant call". A lost log line is
        # harmless; a lost stop leaves the daemon running.
        signal.signal(signum, signal.SIG_DFL)
        stop()
        with suppress(RuntimeError):
            log.info("%s received: stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
