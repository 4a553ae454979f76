"""The MongoDB store: pymongo with real multi-document transactions.

Transactions need a replica set (a single-node one is enough). Each unit of work runs in
`ClientSession.with_transaction`, which retries the whole callback on TransientTransactionError
and the commit on UnknownTransactionCommitResult, as the driver intends; writes use majority
write concern so a committed change survives a primary failover.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from outbox.mongo_errors import translate_errors
from outbox.mongo_indexes import INDEXES, TTL_INDEX_NAME, ttl_index
from outbox.store import Collection, Collections, Document, Filter, Sort, Store, T


class _MongoCollection:
    """pymongo's collection bound to a session (or none), with reads materialised as lists."""

    def __init__(self, collection: Any, session: ClientSession | None) -> None:
        self._collection = collection
        self._session = session

    def find_one(self, filter: Filter, *, sort: Sort | None = None) -> Document | None:
        return self._collection.find_one(filter, sort=sort, session=self._session)  # type: ignore[no-any-return]

    def find(
        self,
        filter: Filter,
        *,
        sort: Sort | None = None,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        cursor = self._collection.find(
            filter, projection=projection, sort=sort, limit=limit, session=self._session
        )
        return list(cursor)

    def count_documents(self, filter: Filter) -> int:
        return int(self._collection.count_documents(filter, session=self._session))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[Document]:
        return list(self._collection.aggregate(list(pipeline), session=self._session))

    def insert_one(self, document: Document) -> None:
        self._collection.insert_one(document, session=self._session)

    def insert_many(self, documents: Sequence[Document]) -> None:
        self._collection.insert_many(list(documents), session=self._session)

    def replace_one(self, filter: Filter, document: Document, *, upsert: bool = False) -> int:
        result = self._collection.replace_one(
            filter, document, upsert=upsert, session=self._session
        )
        return int(result.matched_count)

    def update_one(self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False) -> int:
        result = self._collection.update_one(filter, update, upsert=upsert, session=self._session)
        return int(result.matched_count)

    def update_many(self, filter: Filter, update: Mapping[str, Any]) -> int:
        result = self._collection.update_many(filter, update, session=self._session)
        return int(result.matched_count)

    def delete_many(self, filter: Filter) -> int:
        return int(self._collection.delete_many(filter, session=self._session).deleted_count)

    def find_one_and_update(
        self, filter: Filter, update: Mapping[str, Any], *, upsert: bool = False
    ) -> Document | None:
        return self._collection.find_one_and_update(  # type: ignore[no-any-return]
            filter,
            update,
            upsert=upsert,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )


class _TranslatedCollection:
    """Outside transactions every call translates driver errors into ours."""

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
    def __init__(self, database: Any, session: ClientSession) -> None:
        self._database = database
        self._session = session

    def collection(self, name: str) -> Collection:
        # Untranslated: with_transaction must see the driver's error labels to retry.
        return _MongoCollection(self._database[name], self._session)


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

    def collection(self, name: str) -> Collection:
        return _TranslatedCollection(_MongoCollection(self.database[name], None), self._where)

    def transaction(self, work: Callable[[Collections], T]) -> T:
        with translate_errors(self._where), self.client.start_session() as session:
            return session.with_transaction(
                lambda s: work(_SessionCollections(self.database, s)),
                read_concern=ReadConcern("majority"),
                write_concern=WriteConcern("majority"),
            )

    def ensure_indexes(self, *, retention_seconds: int) -> list[str]:
        created = []
        with translate_errors(self._where):
            self._drop_changed_ttl(retention_seconds)
            for collection, keys, options in (*INDEXES, *ttl_index(retention_seconds)):
                self.database[collection].create_index(list(keys), **options)
                created.append(f"{collection}.{options['name']}")
        return created

    def _drop_changed_ttl(self, retention_seconds: int) -> None:
        """A retention change replaces the TTL index; 0 removes it."""
        existing = self.database["outbox"].index_information().get(TTL_INDEX_NAME)
        if existing is not None and existing.get("expireAfterSeconds") != retention_seconds:
            with suppress(OperationFailure):  # another `outbox init` dropped it first
                self.database["outbox"].drop_index(TTL_INDEX_NAME)

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
