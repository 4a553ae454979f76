"""An in-memory cluster for the demo and the tests: apply creates, rollouts take time.

It behaves like the API server where the provisioner can tell: server-side apply creates or
merges (fields we stop setting go away, fields others set stay), `metadata.generation` moves only
when the spec changes, and a Deployment's status reports its rollout complete `rollout_seconds`
after the change, or, when stalled, ProgressDeadlineExceeded once the deadline passes. Like the
API server it lists and watches the objects carrying our managed-by label: every change is an
event, a rollout that completes included (a scheduler on the injected clock fires it). Faults,
latency, changes behind the provisioner's back, expired history and dropped watches can be
injected.
"""

from __future__ import annotations

import builtins
import copy
import heapq
import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from outbox.domain.clock import Clock, utcnow
from provisioner.cluster.port import (
    ADDED,
    API_VERSIONS,
    BOOKMARK,
    DELETED,
    INSTANCE_LABEL,
    KINDS,
    MODIFIED,
    ClusterError,
    Listing,
    Manifest,
    PermanentClusterError,
    TemporaryClusterError,
    WatchEvent,
    managed,
)
from provisioner.cluster.watch_history import Change, WatchHistory, visible_as
from provisioner.pod_security import (
    deployment_pod_spec,
    forbidden_message,
    replica_set_pod_name,
    violations,
)
from provisioner.pod_security import (
    warning as admission_warning,
)

ALL = "*"
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DEFAULT_PROGRESS_DEADLINE = 600  # the API server's default
# An idle watch wakes this often (real seconds) to fire due rollouts and send a bookmark, so a
# watcher that was told to stop notices it without waiting for the watch's timeout.
WATCH_WAKE_SECONDS = 0.05
OPERATIONS = ("get", "apply", "delete", "list", "watch")

_Key = tuple[str, str]  # (kind, name)


def merge_apply(live: Any, previous: Any, applied: Any) -> Any:
    """What server-side apply makes of `live` when one manager applies `applied`.

    Fields in `applied` are set (maps merge key by key); fields the manager set last time
    (`previous`) and no longer sets are removed; everything else (other managers' fields, server
    fields) stays. Lists are replaced whole, a simplification of the API's associative lists.
    """
    if not (isinstance(applied, dict) and isinstance(live, dict)):
        return copy.deepcopy(applied)
    before = previous if isinstance(previous, dict) else {}
    merged = {
        key: copy.deepcopy(value)
        for key, value in live.items()
        if key not in applied and key not in before
    }
    for key, value in applied.items():
        merged[key] = merge_apply(live.get(key), before.get(key), value)
    return merged


def check_manifest(manifest: Manifest, namespace: str) -> tuple[str, str]:
    """(kind, name) of a manifest the API server would accept in `namespace`, or the error it
    would answer; shared with the tests' API server emulator so both refuse the same things."""
    kind = manifest.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unsupported kind {kind!r}: the cluster port handles {', '.join(KINDS)}")
    if manifest.get("apiVersion") != API_VERSIONS[kind]:
        raise PermanentClusterError(
            f"the API version in the data ({manifest.get('apiVersion')}) does not match the "
            f"expected API version ({API_VERSIONS[kind]})",
            status=400,
        )
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") or ""
    if metadata.get("namespace", namespace) != namespace:
        raise PermanentClusterError(
            "the namespace of the provided object does not match the namespace sent on the request",
            status=400,
        )
    pattern = _DNS1035_LABEL if kind == "Service" else _DNS1123_SUBDOMAIN
    if len(name) > (63 if kind == "Service" else 253) or not pattern.match(name):
        raise PermanentClusterError(
            f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
            "must be a lowercase RFC 1123 name",
            status=422,
        )
    return kind, name


@dataclass
class _Object:
    live: Manifest  # as stored, without status
    applied: Manifest | None  # our last applied configuration; None for somebody else's object
    changed_at: datetime  # when the spec last changed: the rollout clock
    stalled: bool = False  # this rollout never completes (failure injection)
    serving: int = 0  # replicas of the last completed rollout, still up during the next one


@dataclass
class _Fault:
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


class MemoryCluster:
    """The cluster port in memory; thread-safe. See the module docstring for its behaviour."""

    def __init__(
        self,
        *,
        namespace: str = "gateways",
        rollout_seconds: float = 2.0,
        clock: Clock = utcnow,
        latency_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        pod_security: bool = True,
    ) -> None:
        """`pod_security`: the namespace enforces Pod Security "restricted", as the clusters
        this product serves do: a Deployment whose pods fail it is accepted with a warning
        (kept in `warnings`), and its pods are never created."""
        self._namespace = namespace
        self._pod_security = pod_security
        self.warnings: builtins.list[str] = []
        self.rollout_seconds = rollout_seconds
        self._clock = clock
        self.latency_seconds = latency_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self._objects: dict[_Key, _Object] = {}
        self._stalled: set[str] = set()  # gateway instance names, or ALL
        self._faults: list[_Fault] = []
        self._resource_version = 0
        self._history = WatchHistory()
        # (when, sequence, key, changed_at): a Deployment's status changes at `when` on the
        # injected clock; stale once the object changed again (another changed_at).
        self._timers: list[tuple[datetime, int, _Key, datetime]] = []
        self._sequence = itertools.count()
        self.calls: Counter[str] = Counter()  # "apply Deployment edge-gateway" -> count
        self.rollouts: Counter[str] = Counter()  # Deployment name -> rollouts started

    @property
    def namespace(self) -> str:
        return self._namespace

    # -- the port -------------------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Manifest | None:
        self._call("get", kind, name)
        self.fire_due()
        with self._lock:
            stored = self._objects.get((kind, name))
            return None if stored is None else self._view(stored)

    def apply(self, manifest: Manifest) -> Manifest:
        # Counted, slowed and faulted like any call, then refused like the API server would.
        self._call(
            "apply", manifest.get("kind", ""), (manifest.get("metadata") or {}).get("name", "")
        )
        kind, name = check_manifest(manifest, self._namespace)
        applied = copy.deepcopy(manifest)
        applied.pop("status", None)  # status is the controllers' to write, never an apply's
        self.fire_due()
        with self._lock:
            problems = self._refusals(applied)
            if problems:
                self.warnings.append(admission_warning(problems))
            stored = self._objects.get((kind, name))
            if stored is None:
                stored = self._create(kind, name, applied)
            else:
                self._update(stored, applied)
            return self._view(stored)

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        self._call("delete", kind, name)
        with self._lock:
            stored = self._objects.get((kind, name))
            if stored is None:
                return
            live_uid = stored.live["metadata"].get("uid")
            if uid is not None and uid != live_uid:
                raise TemporaryClusterError(
                    f"delete {kind} {self._namespace}/{name}: 409 Precondition failed: "
                    f"UID in precondition: {uid}, UID in object meta: {live_uid}",
                    status=409,
                )
            self._forget(kind, name)

    def list(self, kind: str) -> Listing:
        self._call("list", kind, "")
        self.fire_due()
        with self._lock:
            items = [
                self._view(stored)
                for (stored_kind, _), stored in sorted(self._objects.items())
                if stored_kind == kind and managed(stored.live)
            ]
            return Listing(items, str(self._resource_version))

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        self._call("watch", kind, "")
        after, drops = int(resource_version or 0), self._history.drops
        ends = time.monotonic() + timeout_seconds
        while (remaining := ends - time.monotonic()) > 0:
            self.fire_due()
            changes, dropped = self._history.wait(after, drops, min(WATCH_WAKE_SECONDS, remaining))
            if dropped:
                raise TemporaryClusterError(f"watch {kind} {self._namespace}: connection dropped")
            for change in changes:
                after = change.version
                seen = visible_as(change, managed) if change.kind == kind else None
                if seen is not None:
                    yield WatchEvent(seen, kind, copy.deepcopy(change.object))
            if not changes:
                yield WatchEvent(BOOKMARK, kind, {"metadata": {"resourceVersion": str(after)}})

    # -- test and demo controls ------------------------------------------------------------------

    def fail_next(
        self,
        operation: str,
        error: ClusterError,
        *,
        times: int = 1,
        kind: str | None = None,
        name: str | None = None,
    ) -> None:
        """The next `times` calls of `operation` (one of OPERATIONS), optionally only for one
        kind and/or name, raise `error` (after the call's latency, and without effect)."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            self._faults.append(_Fault(operation, error, kind, name, times))

    def stall_rollouts(self, instance: str = ALL) -> None:
        """Rollouts of that gateway (by gateway name; "*" for all) that start from now on never
        complete: after progressDeadlineSeconds the Deployment reports ProgressDeadlineExceeded.
        Rollouts that completed before keep their status."""
        with self._lock:
            self._stalled.add(instance)

    def unstall_rollouts(self, instance: str = ALL) -> None:
        """Undo `stall_rollouts`; stalled rollouts of that gateway complete (they have had time)."""
        with self._lock:
            self._stalled.discard(instance)
            for stored in self._objects.values():
                if instance in (ALL, _instance(stored.live)):
                    stored.stalled = self._stalled_for(stored)
                    self._schedule(stored)

    def put_foreign(self, manifest: Manifest) -> None:
        """An object somebody else created, with whatever labels the manifest has."""
        kind, name = check_manifest(manifest, self._namespace)
        with self._lock:
            self._create(kind, name, copy.deepcopy(manifest), ours=False)

    def tamper(self, kind: str, name: str, change: Callable[[Manifest], None]) -> None:
        """Change a live object behind the provisioner's back (drift), like `kubectl edit`."""
        with self._lock:
            stored = self._objects[(kind, name)]
            before = copy.deepcopy(stored.live)
            change(stored.live)
            self._after_change(stored, before)

    def remove(self, kind: str, name: str) -> None:
        """Delete an object behind the provisioner's back (drift); not counted as a call."""
        with self._lock:
            self._forget(kind, name)

    def expire_history(self) -> None:
        """Forget every change so far: a watch resuming from an older version gets 410 Gone."""
        with self._lock:
            self._history.expire(self._resource_version)

    def drop_watches(self) -> None:
        """Every open watch fails as a dropped connection does."""
        self._history.drop()

    def fire_due(self) -> None:
        """Rollouts whose time has come on the injected clock change status, as events."""
        now = self._clock()
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _, _, key, changed_at = heapq.heappop(self._timers)
                stored = self._objects.get(key)
                if stored is not None and stored.changed_at == changed_at:
                    before = copy.deepcopy(stored.live)
                    stored.live["metadata"]["resourceVersion"] = str(self._next_resource_version())
                    self._record(MODIFIED, stored, before)

    def names(self) -> builtins.list[_Key]:
        with self._lock:
            return sorted(self._objects)

    def count(self, operation: str, kind: str | None = None, name: str | None = None) -> int:
        """How many calls of `operation` were made (faulted ones included), optionally filtered."""
        with self._lock:
            return sum(
                number
                for call, number in self.calls.items()
                if _call_matches(call, operation, kind, name)
            )

    # -- internals --------------------------------------------------------------------------------

    def _call(self, operation: str, kind: str, name: str) -> None:
        if kind not in KINDS:
            raise ValueError(
                f"unsupported kind {kind!r}: the cluster port handles {', '.join(KINDS)}"
            )
        if self.latency_seconds:
            self._sleep(self.latency_seconds)
        with self._lock:
            self.calls[f"{operation} {kind} {name}"] += 1
            fault = next((f for f in self._faults if f.matches(operation, kind, name)), None)
            if fault is not None:
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
        if fault is not None:
            raise fault.error

    def _create(self, kind: str, name: str, applied: Manifest, *, ours: bool = True) -> _Object:
        live = copy.deepcopy(applied)
        metadata = live.setdefault("metadata", {})
        metadata.update(
            namespace=self._namespace,
            uid=f"uid-{kind.lower()}-{name}-{self._next_resource_version()}",
            generation=1,
            resourceVersion=str(self._resource_version),
            creationTimestamp=self._clock().isoformat().replace("+00:00", "Z"),
        )
        stored = _Object(live=live, applied=applied if ours else None, changed_at=self._clock())
        stored.stalled = self._stalled_for(stored)
        self._objects[(kind, name)] = stored
        self._record(ADDED, stored, None)
        self._schedule(stored)
        if kind == "Deployment" and ours:
            self.rollouts[name] += 1
        return stored

    def _update(self, stored: _Object, applied: Manifest) -> None:
        if applied.get("kind") == "Deployment":
            self._check_selector(stored.live, applied)
        before = stored.live
        stored.live = merge_apply(before, stored.applied, applied)
        stored.applied = applied
        self._after_change(stored, before)

    def _after_change(self, stored: _Object, before: Manifest) -> None:
        if stored.live == before:
            return  # a no-op apply changes nothing, not even the resourceVersion
        metadata = stored.live["metadata"]
        metadata["resourceVersion"] = str(self._next_resource_version())
        if stored.live.get("spec") != before.get("spec"):
            metadata["generation"] = int(before["metadata"].get("generation", 1)) + 1
            if stored.live["kind"] == "Deployment":
                self._start_rollout(stored, before)
        self._record(MODIFIED, stored, before)

    def _start_rollout(self, stored: _Object, before: Manifest) -> None:
        now = self._clock()
        if self._rolled_out(stored, now):
            stored.serving = int(before.get("spec", {}).get("replicas", 1))
        stored.changed_at = now
        stored.stalled = self._stalled_for(stored)
        # Only a new pod template makes a new ReplicaSet; scaling alone is no rollout.
        if _template(stored.live) != _template(before):
            self.rollouts[stored.live["metadata"]["name"]] += 1
        self._schedule(stored)

    def _schedule(self, stored: _Object) -> None:
        """When the Deployment's status changes next: its rollout completes, or stalls out."""
        if stored.live["kind"] != "Deployment":
            return
        spec = stored.live.get("spec") or {}
        seconds = (
            float(spec.get("progressDeadlineSeconds", _DEFAULT_PROGRESS_DEADLINE))
            if stored.stalled
            else self.rollout_seconds
        )
        when = stored.changed_at + timedelta(seconds=seconds)
        key = (stored.live["kind"], stored.live["metadata"]["name"])
        heapq.heappush(self._timers, (when, next(self._sequence), key, stored.changed_at))

    def _record(self, change: str, stored: _Object, previous: Manifest | None) -> None:
        self._history.record(
            Change(
                int(stored.live["metadata"]["resourceVersion"]),
                stored.live["kind"],
                self._namespace,
                change,
                self._view(stored),
                previous,
            )
        )

    def _forget(self, kind: str, name: str) -> None:
        stored = self._objects.pop((kind, name), None)
        if stored is not None:
            # The deletion is a change of its own, with a version of its own.
            before = copy.deepcopy(stored.live)
            stored.live["metadata"]["resourceVersion"] = str(self._next_resource_version())
            self._record(DELETED, stored, before)

    @staticmethod
    def _check_selector(live: Manifest, applied: Manifest) -> None:
        old = live.get("spec", {}).get("selector")
        new = applied.get("spec", {}).get("selector")
        if new is not None and old is not None and new != old:
            name = live["metadata"]["name"]
            raise PermanentClusterError(
                f'Deployment.apps "{name}" is invalid: spec.selector: Invalid value: '
                "field is immutable",
                status=422,
            )

    def _next_resource_version(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def _view(self, stored: _Object) -> Manifest:
        view = copy.deepcopy(stored.live)
        if view["kind"] == "Deployment":
            view["status"] = self._deployment_status(stored)
        return view

    def _stalled_for(self, stored: _Object) -> bool:
        # Pods that admission refuses never come: such a rollout stalls like an injected one.
        refused = bool(self._refusals(stored.live))
        return refused or ALL in self._stalled or _instance(stored.live) in self._stalled

    def _refusals(self, manifest: Manifest) -> builtins.list[str]:
        if not self._pod_security or manifest.get("kind") != "Deployment":
            return []
        return violations(deployment_pod_spec(manifest))

    def _rolled_out(self, stored: _Object, now: datetime) -> bool:
        elapsed = (now - stored.changed_at).total_seconds()
        return not stored.stalled and elapsed >= self.rollout_seconds

    def _deployment_status(self, stored: _Object) -> dict[str, Any]:
        spec = stored.live.get("spec", {})
        generation = stored.live["metadata"]["generation"]
        replicas = int(spec.get("replicas", 1))
        now = self._clock()
        if self._rolled_out(stored, now):
            return {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [_progressing("True", "NewReplicaSetAvailable")],
            }
        deadline = int(spec.get("progressDeadlineSeconds", _DEFAULT_PROGRESS_DEADLINE))
        condition = _progressing("True", "ReplicaSetUpdated")
        if (now - stored.changed_at).total_seconds() >= deadline:
            condition = _progressing(
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{stored.live["metadata"]["name"]}" has timed out progressing.',
            )
        conditions = [condition]
        problems = self._refusals(stored.live)
        if problems:
            # What the deployment controller copies from its ReplicaSet when pods are refused.
            message = forbidden_message(replica_set_pod_name(stored.live), problems)
            conditions.append(_replica_failure(message))
        # The old pods (if a rollout ever completed) keep serving while the new ones never come.
        return {
            "observedGeneration": generation,
            "replicas": stored.serving,
            "updatedReplicas": 0,
            "readyReplicas": stored.serving,
            "availableReplicas": stored.serving,
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


def _call_matches(call: str, operation: str, kind: str | None, name: str | None) -> bool:
    op, call_kind, call_name = call.split(" ", 2)
    return op == operation and kind in (None, call_kind) and name in (None, call_name)
