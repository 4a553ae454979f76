"""When a gateway's transient phase must have ended: one rule for the provisioner and `status`.

The provisioner acts on a passed deadline (ends the start, reports the teardown); `status` shows
how far past it a gateway is. Both ask `phase_deadline`, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from outbox.domain.model import Gateway, Phase


@dataclass(frozen=True)
class Timeouts:
    """Seconds a gateway may stay in a transient phase (the provisioner's settings)."""

    start: float
    stop: float
    delete: float


def start_deadline(gateway: Gateway, timeout: float) -> datetime:
    """When the current start attempt must have ended, whatever blocks it.

    The clock is the writer's request, which nothing else resets; documents older than that field
    fall back to the phase change.
    """
    requested = gateway.start_requested_at or gateway.phase_changed_at
    return requested + timedelta(seconds=timeout)


def phase_deadline(gateway: Gateway, timeouts: Timeouts) -> datetime | None:
    """When the gateway's current phase must have ended; None for a phase without a deadline.

    A start is timed from the request for it, a teardown from entering its phase.
    """
    match gateway.phase:
        case Phase.STARTING:
            return start_deadline(gateway, timeouts.start)
        case Phase.STOPPING:
            return gateway.phase_changed_at + timedelta(seconds=timeouts.stop)
        case Phase.DELETING:
            return gateway.phase_changed_at + timedelta(seconds=timeouts.delete)
    return None
