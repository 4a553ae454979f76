"""A store that hands every call to another: fault injectors override only what they change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from outbox.store.port import Collection, Collections, InsertWatch, Store, T


class DelegatingStore(Store):
    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def unbound(self) -> Collections:
        return self  # so that a subclass's faults in `collection` apply to the repositories

    def collection(self, name: str) -> Collection:
        return self.inner.collection(name)  # type: ignore[attr-defined]

    def transaction(self, work: Callable[[Collections], T]) -> T:
        return self.inner.transaction(work)

    def ensure_indexes(self, *, retention_seconds: int) -> list[str]:
        return self.inner.ensure_indexes(retention_seconds=retention_seconds)

    def purge_published(self, *, before: datetime) -> int:
        return self.inner.purge_published(before=before)

    def watch_inserts(self, name: str) -> InsertWatch | None:
        return self.inner.watch_inserts(name)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()

    @property
    def description(self) -> str:
        return self.inner.description
