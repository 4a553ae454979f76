"""The provisioner's clocks: deadlines as timers, and when the loop's periodic work is due.

A gateway whose deadline (or retry) falls in 7 s is looked at in 7 s, not at the next sweep. The
sweep stays the safety net; a timer only brings the look forward. The sweep and the resync run
at a fixed rate (`next_due`).
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from datetime import datetime

from outbox.domain.deadlines import Timeouts, phase_deadline
from outbox.domain.model import Gateway


def next_due(due: float, interval: float, now: float) -> float:
    """At a fixed rate: `interval` after the time it was due, not after the time it ran, so that
    the period does not stretch by however late each round ran; from `now` if that has already
    passed (the first round, or after an outage)."""
    following = due + interval
    return following if following > now else now + interval


@dataclass
class Schedule:
    """When the sweep and the resync are next due (monotonic seconds)."""

    sweep: float = 0.0
    resync: float = 0.0


def next_look(gateway: Gateway, timeouts: Timeouts) -> datetime | None:
    """When the gateway needs a look without anything happening: its phase deadline or its
    retry, whichever comes first; None for a gateway at rest without either."""
    times = [phase_deadline(gateway, timeouts)]
    if gateway.retry is not None:
        times.append(gateway.retry.next_at)
    due = [when for when in times if when is not None]
    return min(due) if due else None


class Timers:
    """Gateway ids by the time they are due; thread-safe (workers add, the loop takes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[datetime, str]] = []
        self._earliest: dict[str, datetime] = {}  # per gateway: every step sets the same again

    def add(self, gateway_id: str, when: datetime | None) -> None:
        if when is None:
            return
        with self._lock:
            known = self._earliest.get(gateway_id)
            if known is not None and known <= when:
                return
            self._earliest[gateway_id] = when
            heapq.heappush(self._heap, (when, gateway_id))

    def due(self, now: datetime) -> list[str]:
        """The ids whose time has come, each once, and forgets them."""
        with self._lock:
            fired: list[str] = []
            while self._heap and self._heap[0][0] <= now:
                when, gateway_id = heapq.heappop(self._heap)
                if self._earliest.get(gateway_id) == when:
                    del self._earliest[gateway_id]
                if gateway_id not in fired:
                    fired.append(gateway_id)
            return fired

    def seconds_until(self, now: datetime) -> float:
        """Until the earliest timer (infinity without any; 0 when one is due already)."""
        with self._lock:
            if not self._heap:
                return float("inf")
            return max(0.0, (self._heap[0][0] - now).total_seconds())

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)
