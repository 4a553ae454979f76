"""Errors of the relay, on top of the product's typed errors.

Losing the lease is detected by the relay (its lease ran out) and by the stream (fencing: a
newer lease holder has published), so both errors are defined with the stream port; the relay's
modules import them from here.
"""

from __future__ import annotations

from outbox.domain.errors import OutboxError
from outbox.stream.errors import Fenced, LeaseLost

__all__ = ["BehindMark", "Fenced", "LeaseLost"]


class BehindMark(OutboxError):
    """Parked events to release are at or below their gateway's high-water mark: the relay
    would skip them as duplicates."""
