"""Fake time: a wall clock that moves only when a test says so, and a monotonic one following it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from outbox.domain.clock import as_utc


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = as_utc(start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now = as_utc(self.now + timedelta(seconds=seconds))
        return self.now


def monotonic_of(clock: FakeClock) -> Callable[[], float]:
    """A monotonic clock that moves with the fake wall clock, so schedules follow fake time."""
    origin = clock.now
    return lambda: (clock.now - origin).total_seconds()
