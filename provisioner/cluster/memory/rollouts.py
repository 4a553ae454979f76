"""The memory cluster's rollout clock, and the status a Deployment reports by it.

A Deployment's rollout completes `seconds` after its spec last changed. A stalled one (stalled
on purpose, or whose pods Pod Security refuses) never completes: after progressDeadlineSeconds
it reports ProgressDeadlineExceeded. Each such moment is a timer on the injected clock, which
the cluster fires as an event. Plain structures without locking; `MemoryCluster` guards them.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from provisioner.cluster.port import INSTANCE_LABEL, Manifest
from provisioner.pod_security import (
    deployment_pod_spec,
    forbidden_message,
    replica_set_pod_name,
    violations,
)

ALL = "*"
_DEFAULT_PROGRESS_DEADLINE = 600  # the API server's default

Key = tuple[str, str]  # (kind, name)


@dataclass
class Stored:
    """One object as the cluster stores it, with the state of its rollout."""

    live: Manifest  # as stored, without status
    applied: Manifest | None  # our last applied configuration; None for somebody else's object
    changed_at: datetime  # when the spec last changed: the rollout clock
    stalled: bool = False  # this rollout never completes (failure injection)
    serving: int = 0  # replicas of the last completed rollout, still up during the next one

    @property
    def key(self) -> Key:
        return self.live["kind"], self.live["metadata"]["name"]


class RolloutClock:
    def __init__(self, seconds: float, *, pod_security: bool) -> None:
        self.seconds = seconds
        self._pod_security = pod_security
        self.started: Counter[str] = Counter()  # Deployment name -> rollouts started
        self._stalled: set[str] = set()  # gateway instance names, or ALL
        # (when, sequence, key, changed_at): a Deployment's status changes at `when` on the
        # injected clock; stale once the object changed again (another changed_at).
        self._timers: list[tuple[datetime, int, Key, datetime]] = []
        self._sequence = itertools.count()

    def refusals(self, manifest: Manifest) -> list[str]:
        """What Pod Security "restricted" refuses of a Deployment's pods, where it is enforced."""
        if not self._pod_security or manifest.get("kind") != "Deployment":
            return []
        return violations(deployment_pod_spec(manifest))

    def stall(self, instance: str) -> None:
        self._stalled.add(instance)

    def unstall(self, instance: str, objects: Iterable[Stored]) -> None:
        """Rollouts of `instance` ("*" for all) stalled so far complete: they have had time."""
        self._stalled.discard(instance)
        for stored in objects:
            if instance in (ALL, _instance(stored.live)):
                stored.stalled = self._stalled_for(stored)
                self._schedule(stored)

    def created(self, stored: Stored, *, ours: bool) -> None:
        """A new object: a Deployment of ours starts its first rollout."""
        stored.stalled = self._stalled_for(stored)
        self._schedule(stored)
        if stored.live["kind"] == "Deployment" and ours:
            self.started[stored.live["metadata"]["name"]] += 1

    def spec_changed(self, stored: Stored, before: Manifest, now: datetime) -> None:
        """A Deployment's spec changed at `now`: the rollout clock starts again."""
        if self.rolled_out(stored, now):
            stored.serving = int(before.get("spec", {}).get("replicas", 1))
        stored.changed_at = now
        stored.stalled = self._stalled_for(stored)
        # Only a new pod template makes a new ReplicaSet; scaling alone is no rollout.
        if _template(stored.live) != _template(before):
            self.started[stored.live["metadata"]["name"]] += 1
        self._schedule(stored)

    def due(self, now: datetime) -> list[tuple[Key, datetime]]:
        """The timers due at `now`, taken off: (key, changed_at) of the rollout each was for."""
        fired = []
        while self._timers and self._timers[0][0] <= now:
            _, _, key, changed_at = heapq.heappop(self._timers)
            fired.append((key, changed_at))
        return fired

    def rolled_out(self, stored: Stored, now: datetime) -> bool:
        elapsed = (now - stored.changed_at).total_seconds()
        return not stored.stalled and elapsed >= self.seconds

    def status(self, stored: Stored, now: datetime) -> dict[str, Any]:
        """The status a Deployment reports at `now`."""
        generation = stored.live["metadata"]["generation"]
        if self.rolled_out(stored, now):
            replicas = int(stored.live.get("spec", {}).get("replicas", 1))
            conditions = [_progressing("True", "NewReplicaSetAvailable")]
            return _status(generation, replicas, replicas, replicas, conditions)
        # The old pods (if a rollout ever completed) keep serving while the new ones never come.
        conditions = self._unfinished_conditions(stored, now)
        return _status(generation, stored.serving, 0, stored.serving, conditions)

    def _unfinished_conditions(self, stored: Stored, now: datetime) -> list[dict[str, str]]:
        spec = stored.live.get("spec", {})
        deadline = int(spec.get("progressDeadlineSeconds", _DEFAULT_PROGRESS_DEADLINE))
        condition = _progressing("True", "ReplicaSetUpdated")
        if (now - stored.changed_at).total_seconds() >= deadline:
            condition = _progressing(
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{stored.live["metadata"]["name"]}" has timed out progressing.',
            )
        conditions = [condition]
        problems = self.refusals(stored.live)
        if problems:
            # What the deployment controller copies from its ReplicaSet when pods are refused.
            message = forbidden_message(replica_set_pod_name(stored.live), problems)
            conditions.append(_replica_failure(message))
        return conditions

    def _stalled_for(self, stored: Stored) -> bool:
        # Pods that admission refuses never come: such a rollout stalls like an injected one.
        refused = bool(self.refusals(stored.live))
        return refused or ALL in self._stalled or _instance(stored.live) in self._stalled

    def _schedule(self, stored: Stored) -> None:
        """When the Deployment's status changes next: its rollout completes, or stalls out."""
        if stored.live["kind"] != "Deployment":
            return
        spec = stored.live.get("spec") or {}
        seconds = (
            float(spec.get("progressDeadlineSeconds", _DEFAULT_PROGRESS_DEADLINE))
            if stored.stalled
            else self.seconds
        )
        when = stored.changed_at + timedelta(seconds=seconds)
        heapq.heappush(self._timers, (when, next(self._sequence), stored.key, stored.changed_at))


def _status(
    generation: int, replicas: int, updated: int, ready: int, conditions: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": conditions,
    }


def _progressing(status: str, reason: str, message: str = "") -> dict[str, str]:
    condition = {"type": "Progressing", "status": status, "reason": reason}
    if message:
        condition["message"] = message
    return condition


def _replica_failure(message: str) -> dict[str, str]:
    return {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": message,
    }


def _instance(manifest: Manifest) -> str:
    return str((manifest["metadata"].get("labels") or {}).get(INSTANCE_LABEL, ""))


def _template(deployment: Manifest) -> Any:
    return (deployment.get("spec") or {}).get("template")
