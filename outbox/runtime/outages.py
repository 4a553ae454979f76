"""Outages of the backends a daemon needs, as the daemon sees them, and how long to back off.

Each outage is logged once when it starts and once when it ends (not once per retry) and counted
per backend; retries back off from RETRY_BASE up to OUTBOX_PROBE_INTERVAL, so work resumes within
that interval of the backend coming back.
"""

from __future__ import annotations

import logging
import random as random_module
from collections.abc import Callable
from dataclasses import dataclass

from outbox.domain.backoff import backoff
from outbox.domain.errors import BackendUnavailable

MONGODB = "mongodb"
REDIS = "redis"
NAMES = {MONGODB: "MongoDB", REDIS: "Redis"}
RETRY_BASE = 0.1  # seconds: the first retry comes after 0.05 to 0.1 s


@dataclass
class _Down:
    since: float
    attempts: int = 0


class Outages:
    """Which backends are down. `count(backend)` is called once per outage (a metric); the lines
    go to the daemon's own logger, so they read as the daemon's."""

    def __init__(
        self,
        *,
        log: logging.Logger,
        count: Callable[[str], None],
        probe_interval: float,
        monotonic: Callable[[], float],
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self._log = log
        self._count = count
        self._probe_interval = probe_interval
        self._monotonic = monotonic
        self._random = random
        self._down: dict[str, _Down] = {}

    def down(self, backend: str) -> bool:
        return backend in self._down

    @property
    def any(self) -> bool:
        return bool(self._down)

    def failed(self, backend: str, error: BackendUnavailable) -> None:
        """Another failed attempt: logged and counted only if it starts an outage."""
        outage = self._down.get(backend)
        if outage is None:
            outage = self._down[backend] = _Down(since=self._monotonic())
            self._count(backend)
            self._log.warning(
                "%s unavailable (%s); retrying with back-off, at most %.1fs apart",
                NAMES.get(backend, backend),
                error,
                self._probe_interval,
            )
        outage.attempts += 1
        if outage.attempts > 1:
            self._log.debug(
                "%s still unavailable (attempt %d): %s",
                NAMES.get(backend, backend),
                outage.attempts,
                error,
            )

    def answered(self, backend: str) -> None:
        """The backend answered: ends its outage, if there was one."""
        outage = self._down.pop(backend, None)
        if outage is not None:
            self._log.info(
                "%s reachable again after %d failed attempts (%.1fs)",
                NAMES.get(backend, backend),
                outage.attempts,
                self._monotonic() - outage.since,
            )

    def wait(self) -> float:
        """Seconds before the next attempt: backs off with the longest-running outage's failed
        attempts, never beyond the probe interval; 0 when every backend answers."""
        attempts = max((outage.attempts for outage in self._down.values()), default=0)
        return backoff(attempts, base=RETRY_BASE, cap=self._probe_interval, random=self._random)
