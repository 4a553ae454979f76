"""SIGTERM stops a daemon even when it lands in the middle of a log line."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest

from outbox_cli.signals import stop_on_signals


class _ReentrantStderr(logging.Handler):
    """What a write to stderr raises when a signal handler logs while the main thread is inside
    that same write: `RuntimeError: reentrant call inside <_io.BufferedWriter name='<stderr>'>`."""

    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")


@pytest.fixture
def restored_signals() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restored_signals")
def test_sigterm_stops_the_daemon_even_if_its_log_line_cannot_be_written() -> None:
    stopped: list[bool] = []
    stop_on_signals(lambda: stopped.append(True))
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    logger = logging.getLogger("outbox_cli.signals")
    broken = _ReentrantStderr()
    logger.addHandler(broken)
    level = logger.level
    logger.setLevel(logging.INFO)  # as the daemons log
    try:
        handler(signal.SIGTERM, None)
    finally:
        logger.removeHandler(broken)
        logger.setLevel(level)

    assert stopped == [True]
    # A second SIGTERM is left to the default action: the way out of a stop that hangs.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
