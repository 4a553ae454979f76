"""What brought each gateway to the workers: the stream, a watch event, the sweep, a resync or a
timer. The first request wins (the pool coalesces the rest into one pass); while a pass runs,
its trigger is kept by gateway id, so the step counter asks for the gateway it counts instead of
reading state of the worker thread. The pool handles one gateway in one worker at a time, so a
gateway id names one pass at most."""

from __future__ import annotations

import threading

from provisioner.metrics import SWEEP


class Triggers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, str] = {}  # gateway -> what asked for its next pass first
        self._in_hand: dict[str, str] = {}  # gateway -> what brought the pass running now

    def note(self, gateway_id: str, trigger: str) -> None:
        """A request for a pass; only the first one until that pass begins counts."""
        with self._lock:
            self._queued.setdefault(gateway_id, trigger)

    def begin(self, gateway_id: str) -> str:
        """A pass begins: what asked for it (the sweep when nothing did), kept until `end`."""
        with self._lock:
            trigger = self._queued.pop(gateway_id, SWEEP)
            self._in_hand[gateway_id] = trigger
            return trigger

    def of(self, gateway_id: str) -> str:
        """What brought the pass of the gateway that is running now."""
        with self._lock:
            return self._in_hand.get(gateway_id, SWEEP)

    def end(self, gateway_id: str) -> None:
        with self._lock:
            self._in_hand.pop(gateway_id, None)
