"""What the memory cluster was asked, and the faults injected into its next calls.

Every call of the port is counted by operation, kind and name (`"apply Deployment
edge-gateway"`); a fault set with `fail_next` is raised by the calls it matches, as many times
as asked, without the call taking effect.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from provisioner.cluster.port import ClusterError

OPERATIONS = ("get", "apply", "delete", "list", "watch")


@dataclass
class Fault:
    operation: str
    error: ClusterError
    kind: str | None
    name: str | None
    remaining: int

    def matches(self, operation: str, kind: str, name: str) -> bool:
        return (
            self.operation == operation
            and self.kind in (None, kind)
            and self.name in (None, name)
            and self.remaining > 0
        )


class Calls:
    """The counts and the pending faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "apply Deployment edge-gateway" -> count
        self._faults: list[Fault] = []

    def fail_next(
        self, operation: str, error: ClusterError, *, times: int, kind: str | None, name: str | None
    ) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            self._faults.append(Fault(operation, error, kind, name, times))

    def record(self, operation: str, kind: str, name: str) -> None:
        """Count the call; raise the first fault that matches it, using one of its times."""
        with self._lock:
            self.counts[f"{operation} {kind} {name}"] += 1
            fault = next((f for f in self._faults if f.matches(operation, kind, name)), None)
            if fault is not None:
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
        if fault is not None:
            raise fault.error

    def count(self, operation: str, kind: str | None, name: str | None) -> int:
        with self._lock:
            return sum(
                number
                for call, number in self.counts.items()
                if _call_matches(call, operation, kind, name)
            )


def _call_matches(call: str, operation: str, kind: str | None, name: str | None) -> bool:
    op, call_kind, call_name = call.split(" ", 2)
    return op == operation and kind in (None, call_kind) and name in (None, call_name)
