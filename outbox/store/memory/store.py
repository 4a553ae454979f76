"""The in-memory store: mongomock plus the transactions MongoDB would give.

mongomock has no sessions and is not thread-safe. One re-entrant lock serialises every call and
every transaction (so transactions are serialisable within the process), and a journal of the
documents each transaction touched restores them if the transaction fails: all or nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import mongomock
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from outbox.domain.errors import BackendUnavailable
from outbox.store.indexes import EVENT_VERSIONS, KEY_EXPIRY, ensure_indexes
from outbox.store.port import (
    GATEWAYS,
    OUTBOX,
    Collection,
    Collections,
    Document,
    DuplicateKey,
    Filter,
    InsertWatch,
    Sort,
    Store,
    T,
)

# (collection, _id, document before the transaction touched it, or None if it did not exist)
_Undo = tuple[Any, Any, Document | None]


class _EventVersions:
    """The outbox's unique (aggregate_id, version) index, kept by the store itself.

    mongomock checks a unique index by scanning every document on every write: each event
    insert cost time in proportion to the whole outbox. Here a set holds every key that may be
    present (inserts add to it; a deleted or undone event leaves a stale key that a hit checks
    against the collection), so an insert costs one set look-up. The product never changes an
    event's gateway or version; an update that does drops the set, rebuilt on the next insert.
    """

    def __init__(self, outbox: Any) -> None:
        self._outbox = outbox
        self._keys: set[tuple[Any, Any]] | None = None

    def insert(self, document: Document) -> None:
        """Insert the event, or raise DuplicateKey if another event holds its version."""
        key = _version_key(document)
        keys = self._known()
        if key in keys and self._holder(key, document.get("_id")) is not None:
            raise DuplicateKey(
                "aggregate_id",
                f"E11000 duplicate key error index: {EVENT_VERSIONS} dup key: {key}",
            )
        self._outbox.insert_one(dict(document))
        keys.add(key)

    def forget(self) -> None:
        self._keys = None

    def _known(self) -> set[tuple[Any, Any]]:
        if self._keys is None:
            fields = {"aggregate_id": 1, "version": 1}
            self._keys = {_version_key(d) for d in self._outbox.find({}, projection=fields)}
        return self._keys

    def _holder(self, key: tuple[Any, Any], own_id: Any) -> Document | None:
        gateway, version = key
        query = {"aggregate_id": gateway, "version": version, "_id": {"$ne": own_id}}
        return self._outbox.find_one(query, projection={"_id": 1})  # type: ignore[no-any-return]


def _version_key(document: Mapping[str, Any]) -> tuple[Any, Any]:
    # A missing field counts as null, as it does in a MongoDB unique index.
    return (document.get("aggregate_id"), document.get("version"))


_KEY_FIELDS = ("aggregate_id", "version")


def _touches_key(update: Mapping[str, Any]) -> bool:
    return any(
        field in fields
        for fields in update.values()
        if isinstance(fields, Mapping)
        for field in _KEY_FIELDS
    ) or any(field in update for field in _KEY_FIELDS)


class _LockedCollection:
    """A mongomock collection whose every call holds the store's lock."""

    def __init__(
        self, collection: Any, lock: threading.RLock, versions: _EventVersions | None = None
    ) -> None:
        self._collection = collection
        self._lock = lock
        self._versions = versions  # the outbox only

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, _refusals():
            yield

    def _changing(self, update: Mapping[str, Any]) -> None:
        if self._versions is not None and _touches_key(update):
            self._versions.forget()

    def find_one(self, filter: Filter, *, sort: Sort | None = None) -> Document | None:
        with self._locked():
            return self._collection.find_one(dict(filter), sort=sort)  # type: ignore[no-any-return]

    def find(
        self,
        filter: Filter,
        *,
        sort: Sort | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        with self._locked():
            return list(
                self._collection.find(dict(filter), projection=projection, sort=sort, limit=limit)
            )

    def count_documents(self, filter: Filter) -> int:
        with self._locked():
            return int(self._collection.count_documents(dict(filter)))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[Document]:
        with self._locked():
            return list(self._collection.aggregate(list(pipeline)))

    def insert_one(self, document: Document) -> None:
        with self._locked(), _translated(self._collection, document, inserting=True):
            if self._versions is not None:
                self._versions.insert(document)
            else:
                self._collection.insert_one(dict(document))
            # Journalled only once written: undoing a refused duplicate would delete the original.
            self._inserted(document["_id"])

    def insert_many(self, documents: Sequence[Document]) -> None:
        with self._locked():
            # One by one, so the journal matches what was written if a duplicate stops it.
            for document in documents:
                self.insert_one(document)

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> int:
        with self._locked(), _translated(self._collection, {**_ids(filter), **document}):
            self._changing(document)
            self._journal_matches(filter, limit=1)
            result = self._collection.replace_one(dict(filter), dict(document), upsert=upsert)
            if result.upserted_id is not None:
                self._inserted(result.upserted_id)
            return int(result.matched_count)

    def update_one(self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False) -> int:
        with self._locked(), _translated(self._collection, _candidate(filter, update)):
            self._changing(update)
            result = self._collection.update_one(dict(filter), dict(update), upsert=upsert)
            return int(result.matched_count)

    def update_many(self, filter: Filter, update: Mapping[str, Any]) -> int:
        with self._locked(), _translated(self._collection, _candidate(filter, update)):
            self._changing(update)
            self._journal_matches(filter)
            return int(self._collection.update_many(dict(filter), dict(update)).matched_count)

    def delete_many(self, filter: Filter) -> int:
        with self._locked():
            self._journal_matches(filter)
            return int(self._collection.delete_many(dict(filter)).deleted_count)

    def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        with self._locked(), _translated(self._collection, _candidate(filter, update)):
            self._changing(update)
            return self._collection.find_one_and_update(  # type: ignore[no-any-return]
                dict(filter), dict(update), upsert=upsert, return_document=ReturnDocument.AFTER
            )

    def _journal_matches(self, filter: Filter, limit: int = 0) -> int:
        """Outside a transaction nothing is journalled (see `_JournalledCollection`)."""
        return 0

    def _inserted(self, key: Any) -> None:
        """Outside a transaction nothing is journalled (see `_JournalledCollection`)."""


class _JournalledCollection(_LockedCollection):
    """Inside a transaction: remembers each touched document as it was, for the undo."""

    def __init__(
        self,
        collection: Any,
        lock: threading.RLock,
        journal: list[_Undo],
        versions: _EventVersions | None = None,
    ) -> None:
        super().__init__(collection, lock, versions)
        self._journal = journal

    def update_one(self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False) -> int:
        with self._locked(), _translated(self._collection, _candidate(filter, update)):
            self._changing(update)
            self._journal_matches(filter, limit=1)
            result = self._collection.update_one(dict(filter), dict(update), upsert=upsert)
            if result.upserted_id is not None:
                self._inserted(result.upserted_id)
            return int(result.matched_count)

    def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        with self._locked():
            matched = self._journal_matches(filter, limit=1)
            document = super().find_one_and_update(filter, update, upsert=upsert)
            if not matched and document is not None:
                self._journal.append((self._collection, document["_id"], None))
            return document

    def _journal_matches(self, filter: Filter, limit: int = 0) -> int:
        matched = list(self._collection.find(dict(filter), limit=limit))
        self._journal.extend((self._collection, document["_id"], document) for document in matched)
        return len(matched)

    def _inserted(self, key: Any) -> None:
        self._journal.append((self._collection, key, None))


class _TransactionCollections:
    def __init__(self, store: MemoryStore, journal: list[_Undo]) -> None:
        self._store = store
        self._journal = journal

    def collection(self, name: str) -> Collection:
        return _JournalledCollection(
            self._store.database[name], self._store.lock, self._journal, self._store.versions(name)
        )


class MemoryStore(Store):
    """An in-process database for the demo and the tests; everything is lost when it goes."""

    def __init__(self, *, database: str = "outbox") -> None:
        self.lock = threading.RLock()
        self.database: Any = mongomock.MongoClient(tz_aware=False)[database]
        self._name = database
        self._event_versions = _EventVersions(self.database[OUTBOX])
        # Nothing persists, so the unique indexes are made at once (TTL means nothing here).
        self.ensure_indexes(retention_seconds=0)

    def unbound(self) -> Collections:
        return self

    def collection(self, name: str) -> Collection:
        return _LockedCollection(self.database[name], self.lock, self.versions(name))

    def versions(self, name: str) -> _EventVersions | None:
        """The store-kept unique index of `name`, if it has one."""
        return self._event_versions if name == OUTBOX else None

    def transaction(self, work: Callable[[Collections], T]) -> T:
        with self.lock:
            journal: list[_Undo] = []
            try:
                return work(_TransactionCollections(self, journal))
            except BaseException:
                _undo(journal)
                # An undone change may bring back an event the set no longer lists.
                if any(prior is not None and c.name == OUTBOX for c, _, prior in journal):
                    self._event_versions.forget()
                raise

    def ensure_indexes(self, *, retention_seconds: int) -> list[str]:
        with self.lock:
            return ensure_indexes(
                self.database,
                retention_seconds=retention_seconds,
                kept_unique_elsewhere=frozenset({EVENT_VERSIONS}),
                expiring_elsewhere=frozenset({KEY_EXPIRY}),
            )

    def purge_published(self, *, before: datetime) -> int:
        # No TTL index here: the relay calls this now and then to keep memory bounded. Deleted
        # gateways expire with the same retention, as MongoDB's TTL index on them would have it.
        self.collection(GATEWAYS).delete_many(
            {"phase": "Deleted", "phase_changed_at": {"$lt": before}}
        )
        return self.collection(OUTBOX).delete_many({"published_at": {"$lt": before}})

    def watch_inserts(self, name: str) -> InsertWatch | None:
        return None  # no change streams: the relay polls, which costs nothing in memory

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

    @property
    def description(self) -> str:
        return f"in-memory store (database {self._name})"


@contextmanager
def _refusals() -> Iterator[None]:
    """A call mongomock refuses fails as one MongoDB refused would: callers see no pymongo."""
    try:
        yield
    except PyMongoError as error:
        raise BackendUnavailable(f"the in-memory store refused the operation: {error}") from error


@contextmanager
def _translated(
    collection: Any, candidate: Mapping[str, Any], *, inserting: bool = False
) -> Iterator[None]:
    """DuplicateKeyError → DuplicateKey naming the field, as MongoDB's keyPattern would."""
    try:
        yield
    except DuplicateKeyError as error:
        raise DuplicateKey(
            _conflicting_field(collection, candidate, inserting), str(error)
        ) from error


def _conflicting_field(collection: Any, candidate: Mapping[str, Any], inserting: bool) -> str:
    # mongomock's error names no index, and it has rolled the write back: ask which unique
    # field of the refused document another document already holds.
    own_id = candidate.get("_id")
    if inserting and collection.find_one({"_id": own_id}) is not None:
        return "_id"
    for index in collection.index_information().values():
        fields = [field for field, _ in index["key"]]
        if not index.get("unique") or not _indexed(index, candidate, fields):
            continue
        # A missing field is indexed as null, as in MongoDB: {version: None} matches it.
        query: dict[str, Any] = {field: candidate.get(field) for field in fields}
        if own_id is not None:
            query["_id"] = {"$ne": own_id}
        if collection.find_one(query) is not None:
            return str(fields[0])
    return "unknown"


def _indexed(index: Mapping[str, Any], candidate: Mapping[str, Any], fields: list[str]) -> bool:
    """Whether the index holds the candidate: a partial index only documents with its fields."""
    if "partialFilterExpression" in index:
        return all(field in candidate for field in fields)
    return any(field in candidate for field in fields)


def _ids(filter: Filter) -> dict[str, Any]:
    key = filter.get("_id")
    return {} if key is None or isinstance(key, Mapping) else {"_id": key}


def _candidate(filter: Filter, update: Mapping[str, Any]) -> dict[str, Any]:
    """What an update tries to write, as far as the unique fields go."""
    return {**_ids(filter), **update.get("$set", {})}


def _undo(journal: list[_Undo]) -> None:
    # Newest first, so a document touched twice ends as it was before the first touch.
    for collection, key, prior in reversed(journal):
        if prior is None:
            collection.delete_one({"_id": key})
        else:
            collection.replace_one({"_id": key}, prior, upsert=True)
