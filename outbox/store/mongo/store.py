"""The MongoDB store: pymongo with real multi-document transactions.

Transactions need a replica set (a single-node one is enough). Each unit of work runs in
`ClientSession.with_transaction`, which retries the whole callback on TransientTransactionError
and the commit on UnknownTransactionCommitResult, as the driver intends; writes use majority
write concern so a committed change survives a primary failover. Every transaction runs under
`pymongo.timeout(timeout_seconds)`, so those retries stop at the deadline instead of after the
driver's 120 s: a write commits or fails within the timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymongo
from pymongo import MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from outbox.domain.errors import NotInitialised
from outbox.store.indexes import ensure_indexes, is_initialised
from outbox.store.mongo.changes import ChangeStreamWatch, has_change_streams
from outbox.store.mongo.errors import commit_failure, translate_errors
from outbox.store.mongo.quirks import Quirks, quirks_of
from outbox.store.port import Collection, Collections, Document, Filter, Sort, Store, T


class _MongoCollection:
    """pymongo's collection bound to a session (or none), with reads materialised as lists.

    The server's quirks (`outbox.store.mongo.quirks`) are undone here, for every call: filters go
    out as the server answers them right, documents come back as the driver would give them.
    """

    def __init__(
        self, collection: Any, session: ClientSession | None, quirks: Callable[[], Quirks]
    ) -> None:
        self._collection = collection
        self._session = session
        self._quirks = quirks

    def _filter(self, filter: Filter, *, find: bool = False) -> Filter:
        return self._quirks().filter(filter, find=find)

    def _read(self, document: Document | None) -> Document | None:
        return None if document is None else self._quirks().document(document)

    def find_one(self, filter: Filter, *, sort: Sort | None = None) -> Document | None:
        document = self._collection.find_one(
            self._filter(filter, find=True), sort=sort, session=self._session
        )
        return self._read(document)

    def find(
        self,
        filter: Filter,
        *,
        sort: Sort | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        cursor = self._collection.find(
            self._filter(filter, find=True),
            projection=projection,
            sort=sort,
            limit=limit,
            session=self._session,
        )
        quirks = self._quirks()
        return [quirks.document(document) for document in cursor]

    def count_documents(self, filter: Filter) -> int:
        if self._quirks().count_by_match(filter):
            pipeline = [{"$match": dict(filter)}, {"$count": "n"}]
            counted = list(self._collection.aggregate(pipeline, session=self._session))
            return int(counted[0]["n"]) if counted else 0
        return int(self._collection.count_documents(self._filter(filter), session=self._session))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[Document]:
        return list(self._collection.aggregate(list(pipeline), session=self._session))

    def insert_one(self, document: Document) -> None:
        self._collection.insert_one(document, session=self._session)

    def insert_many(self, documents: Sequence[Document]) -> None:
        self._collection.insert_many(list(documents), session=self._session)

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> int:
        result = self._collection.replace_one(
            self._filter(filter), document, upsert=upsert, session=self._session
        )
        return int(result.matched_count)

    def update_one(self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False) -> int:
        result = self._collection.update_one(
            self._filter(filter), update, upsert=upsert, session=self._session
        )
        return int(result.matched_count)

    def update_many(self, filter: Filter, update: Mapping[str, Any]) -> int:
        result = self._collection.update_many(self._filter(filter), update, session=self._session)
        return int(result.matched_count)

    def delete_many(self, filter: Filter) -> int:
        result = self._collection.delete_many(self._filter(filter), session=self._session)
        return int(result.deleted_count)

    def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        document = self._collection.find_one_and_update(
            self._filter(filter),
            update,
            upsert=upsert,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return self._read(document)


class _TranslatedCollection:
    """Outside transactions every call translates driver errors into ours.

    No deadline here: an unreachable server fails within the server selection timeout, and a
    slow but healthy bulk write (the relay marking a batch) must not be cut short, or it would
    be retried forever. The deadline belongs to transactions, whose retry loop it stops.
    """

    def __init__(self, inner: _MongoCollection, where: str) -> None:
        self._inner = inner
        self._where = where

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with translate_errors(self._where):
                return method(*args, **kwargs)

        return call


class _SessionCollections:
    def __init__(self, database: Any, session: ClientSession, quirks: Quirks) -> None:
        self._database = database
        self._session = session
        self._quirks = quirks

    def collection(self, name: str) -> Collection:
        # Untranslated: with_transaction must see the driver's error labels to retry.
        return _MongoCollection(self._database[name], self._session, lambda: self._quirks)


class MongoStore(Store):
    def __init__(
        self,
        uri: str,
        *,
        database: str = "outbox",
        timeout_seconds: float = 5.0,
        client: MongoClient[Document] | None = None,
    ) -> None:
        self._where = redact(uri)
        self._timeout = timeout_seconds
        self._initialised = False
        timeout_ms = int(timeout_seconds * 1000)
        self.client: MongoClient[Document] = client or MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            w="majority",
            tz_aware=False,
            appname="gateway-outbox",
        )
        self.database = self.client[database]
        self._name = database
        self._known_quirks: Quirks | None = None

    def unbound(self) -> Collections:
        return self

    def collection(self, name: str) -> Collection:
        inner = _MongoCollection(self.database[name], None, self._quirks)
        return _TranslatedCollection(inner, self._where)

    def _quirks(self) -> Quirks:
        """Asked of the server once per store: which of nx-27017's quirks to undo."""
        if self._known_quirks is None:
            self._known_quirks = quirks_of(self.client.admin.command("buildInfo"))
        return self._known_quirks

    def transaction(self, work: Callable[[Collections], T]) -> T:
        returned = False  # whether the last run of `work` finished: a later failure is the commit

        def callback(session: ClientSession) -> T:
            nonlocal returned
            returned = False
            result = work(_SessionCollections(self.database, session, quirks))
            returned = True
            return result

        with translate_errors(self._where), pymongo.timeout(self._timeout):
            self._require_initialised()
            quirks = self._quirks()
            with self.client.start_session() as session:
                try:
                    return session.with_transaction(
                        callback,
                        read_concern=ReadConcern("majority"),
                        write_concern=WriteConcern("majority"),
                    )
                except PyMongoError as error:
                    if returned:
                        raise commit_failure(error, self._where) from error
                    raise

    def _require_initialised(self) -> None:
        """Refuse to write into a database `outbox init` never saw.

        Without its unique indexes two gateways could share a name. (nx-27017 also ignores a
        transaction whose first read finds no collection: its writes would commit one by one.)
        Checked once per store.
        """
        if not self._initialised:
            if not is_initialised(self.database):
                raise NotInitialised(
                    f"{self.description} has no indexes: run `outbox init` first "
                    "(nothing was written)"
                )
            self._initialised = True

    def ensure_indexes(self, *, retention_seconds: int) -> list[str]:
        # No deadline: building a unique index over a large outbox may take a while.
        with translate_errors(self._where):
            created = ensure_indexes(self.database, retention_seconds=retention_seconds)
        self._initialised = True
        return created

    def purge_published(self, *, before: datetime) -> int:
        return 0  # the TTL index of `outbox init` expires published events

    def watch_inserts(self, name: str) -> ChangeStreamWatch | None:
        if not has_change_streams(self.client, self._where):
            return None
        return ChangeStreamWatch(self.database[name], self._where)

    def ping(self) -> None:
        with translate_errors(self._where):
            self.client.admin.command("ping")

    def close(self) -> None:
        self.client.close()

    @property
    def description(self) -> str:
        return f"MongoDB at {self._where} (database {self._name})"


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
