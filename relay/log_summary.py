"""What the relay tells an operator at INFO while it publishes: one summary line per interval
(events, rate, lag), not a line per batch. Each batch is logged at DEBUG.

The first batch after a quiet interval is summed up at once, so an idle relay that publishes
one event now and then still says so; a busy one says so every `interval` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

SUMMARY_INTERVAL = 30.0


@dataclass
class Window:
    """What was published since the last summary."""

    batches: int = 0
    published: int = 0
    duplicates: int = 0
    max_lag: float = 0.0


class LogSummary:
    def __init__(
        self,
        *,
        interval: float = SUMMARY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._window = Window()
        self._since: float | None = None  # when the last summary was logged

    def add(self, *, published: int, duplicates: int, lag: float) -> None:
        """Count one batch; log the summary when the interval since the last one has passed."""
        window = self._window
        window.batches += 1
        window.published += published
        window.duplicates += duplicates
        window.max_lag = max(window.max_lag, lag)
        now = self._monotonic()
        if self._since is None or now - self._since >= self._interval:
            self._log(window, now - (self._since if self._since is not None else now))
            self._window = Window()
            self._since = now

    def _log(self, window: Window, seconds: float) -> None:
        rate = f", {window.published / seconds:.1f}/s" if seconds > 0 else ""
        log.info(
            "published %d events in %d batches over %.0fs%s, %d already in stream, max lag %.3fs",
            window.published,
            window.batches,
            seconds,
            rate,
            window.duplicates,
            window.max_lag,
        )
