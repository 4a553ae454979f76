"""A recorder at the reconciler port: which replica works on which gateway, and when two of
them ever did so at the same time."""

from __future__ import annotations

import threading
from collections import Counter

from provisioner.daemon import Provisioner
from provisioner.reconciler import Outcome, Reconciler


class ReconcileRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_hand: dict[str, set[str]] = {}  # gateway -> replicas working on it now
        self.overlaps: list[tuple[str, frozenset[str]]] = []
        self.passes: Counter[str] = Counter()  # replica -> passes

    def enter(self, replica: str, gateway_id: str) -> None:
        with self._lock:
            working = self._in_hand.setdefault(gateway_id, set())
            working.add(replica)
            if len(working) > 1:
                self.overlaps.append((gateway_id, frozenset(working)))
            self.passes[replica] += 1

    def leave(self, replica: str, gateway_id: str) -> None:
        with self._lock:
            self._in_hand[gateway_id].discard(replica)

    def attach(self, replica: str, daemon: Provisioner) -> None:
        """Put the recorder between the daemon's workers and its reconciler."""
        daemon._reconciler = _Recorded(daemon._reconciler, self, replica)  # type: ignore[assignment]


class _Recorded:
    def __init__(self, inner: Reconciler, recorder: ReconcileRecorder, replica: str) -> None:
        self._inner, self._recorder, self._replica = inner, recorder, replica

    def reconcile(self, gateway_id: str) -> Outcome:
        self._recorder.enter(self._replica, gateway_id)
        try:
            return self._inner.reconcile(gateway_id)
        finally:
            self._recorder.leave(self._replica, gateway_id)
