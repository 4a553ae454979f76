"""Time as the product sees it: timezone-aware UTC, truncated to the millisecond.

MongoDB keeps dates to the millisecond; truncating at the source makes a value read back equal to
the value written, in both stores.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return as_utc(datetime.now(UTC))


def as_utc(value: datetime) -> datetime:
    """Naive values are UTC (the drivers return them so); keep milliseconds only."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
