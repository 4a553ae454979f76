"""A provisioner process that dies at a chosen point, modelled at our own ports.

The cluster and store wrappers of one process share a `Life`: each counts its calls, and when the
chosen call comes the process dies (`Crash`). From then on every call of either port raises, as
nothing more comes out of a dead process; the work it had not done yet stays undone, and its
stream entry stays pending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from outbox.store.port import Collections, Store
from provisioner.cluster.port import Cluster, Manifest
from tests.support.stores import DelegatingStore

T = TypeVar("T")
Port = Literal["delete", "commit"]


class Crash(Exception):
    """A process dying at an exact point: whatever it had not done yet stays undone."""


class CrashingStore:
    """The store, but the next N transactions die before they commit."""

    def __init__(self, inner: Store, *, crashes: int = 0) -> None:
        self._inner = inner
        self.crashes = crashes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transaction(self, work: Callable[[Collections], T]) -> T:
        if self.crashes:
            self.crashes -= 1
            raise Crash("died after the cluster call, before the commit")
        return self._inner.transaction(work)


@dataclass(frozen=True)
class CrashPoint:
    """`after` the `nth` delete has taken effect, or `before` the `nth` commit (1-based)."""

    port: Port
    nth: int

    def __str__(self) -> str:
        when = "after" if self.port == "delete" else "before"
        return f"{when}-{self.port}-{self.nth}"


class Life:
    def __init__(self, crash_at: CrashPoint) -> None:
        self.crash_at = crash_at
        self.dead = False
        self._calls = {"delete": 0, "commit": 0}
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise if the process has already died."""
        if self.dead:
            raise Crash(f"the process died {self.crash_at}")

    def count(self, port: Port) -> None:
        """One more call of `port`; the process dies if it is the chosen one."""
        with self._lock:
            self.check()
            self._calls[port] += 1
            if (port, self._calls[port]) == (self.crash_at.port, self.crash_at.nth):
                self.dead = True
        self.check()


class CrashingCluster:
    """The cluster port of a mortal process: dies right after the chosen delete took effect."""

    def __init__(self, inner: Cluster, life: Life) -> None:
        self._inner = inner
        self._life = life

    @property
    def namespace(self) -> str:
        return self._inner.namespace

    def get(self, kind: str, name: str) -> Manifest | None:
        self._life.check()
        return self._inner.get(kind, name)

    def apply(self, manifest: Manifest) -> Manifest:
        self._life.check()
        return self._inner.apply(manifest)

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        self._life.check()
        self._inner.delete(kind, name, uid=uid)
        self._life.count("delete")


class MortalStore(DelegatingStore):
    """The store port of a mortal process: dies right before the chosen commit.

    Reads and single writes outside a step go through: they are harmless.
    """

    def __init__(self, inner: Store, life: Life) -> None:
        super().__init__(inner)
        self._life = life

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self._life.count("commit")
        return self.inner.transaction(work)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
