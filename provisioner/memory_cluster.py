"""An in-memory cluster for the demo and the tests: apply creates, rollouts take time.

It behaves like the API server where the provisioner can tell: server-side apply creates or
updates, `metadata.generation` moves only when the spec changes, a Deployment's status reports
its rollout complete `rollout_seconds` after the change (or, when stalled, reports
ProgressDeadlineExceeded once the deadline passes). Faults can be injected per operation.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from outbox.clock import Clock, utcnow
from provisioner.cluster import ClusterError, Manifest

_Key = tuple[str, str]  # (kind, name)


class MemoryCluster:
    def __init__(
        self,
        *,
        namespace: str = "gateways",
        rollout_seconds: float = 2.0,
        clock: Clock = utcnow,
        latency_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._namespace = namespace
        self.rollout_seconds = rollout_seconds
        self._clock = clock
        self.latency_seconds = latency_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self._objects: dict[_Key, Manifest] = {}
        self._changed_at: dict[_Key, datetime] = {}
        self._stalled: set[str] = set()  # gateway instance names, or "*" for every rollout
        self._faults: dict[str, list[ClusterError]] = {}
        self.calls: Counter[str] = Counter()  # "apply Deployment edge-gateway" -> count

    @property
    def namespace(self) -> str:
        return self._namespace

    # -- the port -------------------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Manifest | None:
        self._call("get", kind, name)
        with self._lock:
            live = self._objects.get((kind, name))
            return None if live is None else self._with_status((kind, name), live)

    def apply(self, manifest: Manifest) -> Manifest:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        self._call("apply", kind, name)
        with self._lock:
            key = (kind, name)
            current = self._objects.get(key)
            applied = copy.deepcopy(manifest)
            applied.pop("status", None)
            metadata = applied.setdefault("metadata", {})
            metadata["namespace"] = self._namespace
            if current is None:
                metadata["generation"] = 1
                metadata["uid"] = f"uid-{kind.lower()}-{name}"
                self._changed_at[key] = self._clock()
            else:
                generation = current["metadata"].get("generation", 1)
                if current.get("spec") != applied.get("spec"):
                    generation += 1
                    self._changed_at[key] = self._clock()
                metadata["generation"] = generation
                metadata["uid"] = current["metadata"]["uid"]
            self._objects[key] = applied
            return self._with_status(key, applied)

    def delete(self, kind: str, name: str) -> None:
        self._call("delete", kind, name)
        with self._lock:
            self._objects.pop((kind, name), None)
            self._changed_at.pop((kind, name), None)

    # -- test and demo controls ------------------------------------------------------------------

    def stall_rollouts(self, instance: str = "*") -> None:
        """Rollouts of that gateway (by name; "*" for all) never complete."""
        with self._lock:
            self._stalled.add(instance)

    def unstall_rollouts(self, instance: str = "*") -> None:
        with self._lock:
            self._stalled.discard(instance)

    def fail_next(self, operation: str, error: ClusterError, *, times: int = 1) -> None:
        """The next `times` calls of `operation` ("get", "apply", "delete") raise `error`."""
        with self._lock:
            self._faults.setdefault(operation, []).extend([error] * times)

    def put_foreign(self, manifest: Manifest) -> None:
        """An object somebody else created (with whatever labels the manifest has)."""
        with self._lock:
            key = (manifest["kind"], manifest["metadata"]["name"])
            foreign = copy.deepcopy(manifest)
            foreign["metadata"].update(generation=1, uid=f"uid-foreign-{key[1]}")
            self._objects[key] = foreign
            self._changed_at[key] = self._clock()

    def tamper(self, kind: str, name: str, change: Callable[[Manifest], None]) -> None:
        """Change a live object behind the provisioner's back (drift)."""
        with self._lock:
            change(self._objects[(kind, name)])

    def names(self) -> list[_Key]:
        with self._lock:
            return sorted(self._objects)

    # -- internals --------------------------------------------------------------------------------

    def _call(self, operation: str, kind: str, name: str) -> None:
        if self.latency_seconds:
            self._sleep(self.latency_seconds)
        with self._lock:
            self.calls[f"{operation} {kind} {name}"] += 1
            faults = self._faults.get(operation)
            error = faults.pop(0) if faults else None
        if error is not None:
            raise error

    def _with_status(self, key: _Key, live: Manifest) -> Manifest:
        view = copy.deepcopy(live)
        if key[0] == "Deployment":
            view["status"] = self._deployment_status(key, view)
        return view

    def _deployment_status(self, key: _Key, deployment: Manifest) -> dict[str, Any]:
        generation = deployment["metadata"]["generation"]
        replicas = int(deployment.get("spec", {}).get("replicas", 1))
        elapsed = (self._clock() - self._changed_at[key]).total_seconds()
        instance = deployment["metadata"].get("labels", {}).get("app.kubernetes.io/instance", "")
        stalled = "*" in self._stalled or instance in self._stalled
        if not stalled and elapsed >= self.rollout_seconds:
            return {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
                ],
            }
        deadline = deployment.get("spec", {}).get("progressDeadlineSeconds", 600)
        condition = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        if elapsed >= deadline:
            condition = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f"ReplicaSet has timed out progressing after {deadline}s",
            }
        return {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": 0,
            "readyReplicas": 0,
            "availableReplicas": 0,
            "conditions": [condition],
        }
