"""The store port: units of work, and the collections the repositories of this package use.

Two adapters implement it: `MongoStore` (pymongo, real multi-document transactions) and
`MemoryStore` (mongomock with transactions the product adds). Callers see `Store` and the
repositories (`repository`, `leases`, `members`, ...), never a collection: every query shape
lives in this package. `Collection` and `Collections` are the repositories' side of the port,
the subset of pymongo they call; the adapters also offer `collection(name)` to the tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from outbox.domain.errors import Conflict

T = TypeVar("T")
Document = dict[str, Any]
Filter = Mapping[str, Any]
Sort = Sequence[tuple[str, int]]

GATEWAYS = "gateways"
ENVIRONMENTS = "environments"
OUTBOX = "outbox"
LEASES = "leases"
MEMBERS = "members"
CONFIG = "config"  # deployment-wide records, such as the partition count
TOKENS = "tokens"  # the HTTP API's bearer tokens (`tokens.py`; policy in `outbox_api`)
IDEMPOTENCY_KEYS = "idempotency_keys"  # the API's remembered writes (`idempotency_keys.py`)


class DuplicateKey(Conflict):
    """A unique index refused a write; `key` names the indexed field."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


class Collection(Protocol):
    """The subset of pymongo's Collection the product uses; reads return lists, not cursors."""

    def find_one(self, filter: Filter, *, sort: Sort | None = None) -> Document | None: ...

    def find(
        self,
        filter: Filter,
        *,
        sort: Sort | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]: ...

    def count_documents(self, filter: Filter) -> int: ...

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[Document]: ...

    def insert_one(self, document: Document) -> None: ...

    def insert_many(self, documents: Sequence[Document]) -> None: ...

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> int:
        """Returns how many documents matched (0 or 1)."""
        ...

    def update_one(self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False) -> int:
        """Returns how many documents matched (0 or 1)."""
        ...

    def update_many(self, filter: Filter, update: Mapping[str, Any]) -> int:
        """Returns how many documents matched."""
        ...

    def delete_many(self, filter: Filter) -> int:
        """Returns how many documents were deleted."""
        ...

    def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        """Returns the document after the update, or None when nothing matched."""
        ...


class Collections(Protocol):
    def collection(self, name: str) -> Collection: ...


class Inserts(Protocol):
    """An open watch on the inserts into one collection."""

    def next(self) -> bool:
        """Wait a moment (under a second) for an insert; True if one committed meanwhile.

        Raises BackendUnavailable when the watch breaks: close it and open a new one.
        """
        ...

    def close(self) -> None: ...


class InsertWatch(Protocol):
    """Tells of inserts as they commit, for as long as a watch stays open."""

    def open(self) -> Inserts:
        """Start watching; raises BackendUnavailable when the database cannot now."""
        ...


class Store(ABC):
    """A database with units of work.

    `transaction(work)` runs `work` with collections bound to one transaction (for the
    repositories to use: `UnitOfWork(collections)`): everything it writes commits together,
    or (on any exception, including a lost compare-and-set) nothing does. `work` may run more
    than once when the backend retries a transient failure, so it must only read and write
    through the repositories over the collections it is given.
    """

    @abstractmethod
    def unbound(self) -> Collections:
        """The collections outside any transaction, each call atomic on its own: for the
        repositories of `outbox.store`, which hold every query; everyone else asks them."""

    @abstractmethod
    def transaction(self, work: Callable[[Collections], T]) -> T:
        """Run `work` in one transaction; `work` hands its collections to the repositories."""

    @abstractmethod
    def ensure_indexes(self, *, retention_seconds: int) -> list[str]:
        """Create the indexes the product relies on; returns their descriptions."""

    @abstractmethod
    def purge_published(self, *, before: datetime) -> int:
        """Delete outbox events published before `before`; returns how many went.

        A no-op (0) where the database expires them itself (MongoDB's TTL index).
        """

    @abstractmethod
    def watch_inserts(self, name: str) -> InsertWatch | None:
        """A watch on the inserts into collection `name`, or None where the database cannot
        tell of them (no change streams: the in-memory store, a MongoDB without a replica set).
        """

    @abstractmethod
    def ping(self) -> None:
        """Raise BackendUnavailable unless the database answers."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the data lives, without secrets."""
