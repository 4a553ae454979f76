"""Stores that fail on cue: unreachable for a while, or losing the outcome of every commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from outbox.domain.errors import BackendUnavailable, CommitOutcomeUnknown
from outbox.store.memory.store import MemoryStore
from outbox.store.port import Collections
from tests.support.stores import DelegatingStore

T = TypeVar("T")


class FlakyStore(MemoryStore):
    """MongoDB unreachable for a while: the store port raises BackendUnavailable."""

    down = False

    def collection(self, name: str) -> Any:
        inner = super().collection(name)
        store = self

        class Guarded:
            def __getattr__(self, attribute: str) -> Callable[..., object]:
                method = getattr(inner, attribute)

                def call(*args: object, **kwargs: object) -> object:
                    if store.down:
                        raise BackendUnavailable("MongoDB at test is unreachable")
                    return method(*args, **kwargs)

                return call

        return Guarded()


class CommitUnknownStore(DelegatingStore):
    """Every transaction runs its work, then fails the way a lost commit does."""

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self.inner.transaction(work)
        raise CommitOutcomeUnknown("MongoDB at mongodb://db: the commit failed: timed out")


class InterruptingStore(MemoryStore):
    """Ctrl-C arrives while a command reads: every read raises KeyboardInterrupt."""

    def collection(self, name: str) -> Any:
        raise KeyboardInterrupt


class SwitchableStore(DelegatingStore):
    """MongoDB unreachable while `down`: reads, transactions and pings all fail."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable("MongoDB at test is unreachable")

    def collection(self, name: str) -> Any:
        inner = self.inner.collection(name)
        check = self._check

        class Guarded:
            def __getattr__(self, attribute: str) -> Callable[..., object]:
                method = getattr(inner, attribute)

                def call(*args: object, **kwargs: object) -> object:
                    check()
                    return method(*args, **kwargs)

                return call

        return Guarded()

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self._check()
        return self.inner.transaction(work)

    def ping(self) -> None:
        self._check()
