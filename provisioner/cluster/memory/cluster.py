"""`MemoryCluster`: the cluster port in memory, for the demo and the tests.

It behaves like the API server where the provisioner can tell: server-side apply creates or
merges (`apply_rules`), `metadata.generation` moves only when the spec changes, and a
Deployment's status follows its rollout (`rollouts`). Like the API server it lists and watches
the objects carrying our managed-by label: every change is an event, a rollout that completes
included. Faults (`calls`), latency, changes behind the provisioner's back, expired history and
dropped watches can be injected.
"""

from __future__ import annotations

import builtins
import copy
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

from outbox.domain.clock import Clock, utcnow
from provisioner.cluster.memory.apply_rules import (
    check_manifest,
    check_selector,
    checked_kind,
    merge_apply,
)
from provisioner.cluster.memory.calls import Calls
from provisioner.cluster.memory.rollouts import ALL, Key, RolloutClock, Stored
from provisioner.cluster.port import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    ClusterError,
    Listing,
    Manifest,
    TemporaryClusterError,
    WatchEvent,
    managed,
)
from provisioner.cluster.watch_history import Change, WatchHistory, visible_as
from provisioner.pod_security import warning as admission_warning

# An idle watch wakes this often (real seconds) to fire due rollouts and send a bookmark, so a
# watcher that was told to stop notices it without waiting for the watch's timeout.
WATCH_WAKE_SECONDS = 0.05


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
        self.warnings: builtins.list[str] = []
        self._clock = clock
        self.latency_seconds = latency_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self._objects: dict[Key, Stored] = {}
        self._resource_version = 0
        self._history = WatchHistory()
        self._rollout_clock = RolloutClock(rollout_seconds, pod_security=pod_security)
        self._calls = Calls()
        self.calls: Counter[str] = self._calls.counts  # "apply Deployment edge-gateway" -> count
        self.rollouts: Counter[str] = self._rollout_clock.started  # Deployment name -> rollouts

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def rollout_seconds(self) -> float:
        return self._rollout_clock.seconds

    @rollout_seconds.setter
    def rollout_seconds(self, seconds: float) -> None:
        self._rollout_clock.seconds = seconds

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
            problems = self._rollout_clock.refusals(applied)
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
        after = int(resource_version or 0)
        drops = self._history.drops
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
        self._calls.fail_next(operation, error, times=times, kind=kind, name=name)

    def stall_rollouts(self, instance: str = ALL) -> None:
        """Rollouts of that gateway (by gateway name; "*" for all) that start from now on never
        complete: after progressDeadlineSeconds the Deployment reports ProgressDeadlineExceeded.
        Rollouts that completed before keep their status."""
        with self._lock:
            self._rollout_clock.stall(instance)

    def unstall_rollouts(self, instance: str = ALL) -> None:
        """Undo `stall_rollouts`; stalled rollouts of that gateway complete (they have had time)."""
        with self._lock:
            self._rollout_clock.unstall(instance, self._objects.values())

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
            for key, changed_at in self._rollout_clock.due(now):
                stored = self._objects.get(key)
                if stored is not None and stored.changed_at == changed_at:
                    before = copy.deepcopy(stored.live)
                    stored.live["metadata"]["resourceVersion"] = str(self._next_resource_version())
                    self._record(MODIFIED, stored, before)

    def names(self) -> builtins.list[Key]:
        with self._lock:
            return sorted(self._objects)

    def count(self, operation: str, kind: str | None = None, name: str | None = None) -> int:
        """How many calls of `operation` were made (faulted ones included), optionally filtered."""
        return self._calls.count(operation, kind, name)

    # -- internals --------------------------------------------------------------------------------

    def _call(self, operation: str, kind: str, name: str) -> None:
        checked_kind(kind)
        if self.latency_seconds:
            self._sleep(self.latency_seconds)
        self._calls.record(operation, kind, name)

    def _create(self, kind: str, name: str, applied: Manifest, *, ours: bool = True) -> Stored:
        live = copy.deepcopy(applied)
        metadata = live.setdefault("metadata", {})
        metadata.update(
            namespace=self._namespace,
            uid=f"uid-{kind.lower()}-{name}-{self._next_resource_version()}",
            generation=1,
            resourceVersion=str(self._resource_version),
            creationTimestamp=self._clock().isoformat().replace("+00:00", "Z"),
        )
        stored = Stored(live=live, applied=applied if ours else None, changed_at=self._clock())
        self._rollout_clock.created(stored, ours=ours)
        self._objects[(kind, name)] = stored
        self._record(ADDED, stored, None)
        return stored

    def _update(self, stored: Stored, applied: Manifest) -> None:
        if applied.get("kind") == "Deployment":
            check_selector(stored.live, applied)
        before = stored.live
        stored.live = merge_apply(before, stored.applied, applied)
        stored.applied = applied
        self._after_change(stored, before)

    def _after_change(self, stored: Stored, before: Manifest) -> None:
        if stored.live == before:
            return  # a no-op apply changes nothing, not even the resourceVersion
        metadata = stored.live["metadata"]
        metadata["resourceVersion"] = str(self._next_resource_version())
        if stored.live.get("spec") != before.get("spec"):
            metadata["generation"] = int(before["metadata"].get("generation", 1)) + 1
            if stored.live["kind"] == "Deployment":
                self._rollout_clock.spec_changed(stored, before, self._clock())
        self._record(MODIFIED, stored, before)

    def _record(self, change: str, stored: Stored, previous: Manifest | None) -> None:
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

    def _next_resource_version(self) -> int:
        self._resource_version += 1
        return self._resource_version

    def _view(self, stored: Stored) -> Manifest:
        view = copy.deepcopy(stored.live)
        if view["kind"] == "Deployment":
            view["status"] = self._rollout_clock.status(stored, self._clock())
        return view
