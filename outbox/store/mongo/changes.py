"""The MongoDB adapter's watch on inserts: change streams, which only replica sets have.

Elsewhere (a standalone server, nx-27017) the store offers no watch and its callers poll.
Driver errors come out as BackendUnavailable, like every other call of the adapter.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from outbox.domain.errors import BackendUnavailable
from outbox.store.mongo.errors import translate_errors
from outbox.store.port import Document

log = logging.getLogger(__name__)

INSERTS = [{"$match": {"operationType": "insert"}}]
AWAIT_MS = 500  # how long one `next()` waits on the server for a change


class ChangeStreamInserts:
    """An open change stream, filtered to inserts."""

    def __init__(self, stream: Any, where: str) -> None:
        self._stream = stream
        self._where = where

    def next(self) -> bool:
        with translate_errors(self._where):
            return self._stream.try_next() is not None

    def close(self) -> None:
        with suppress(PyMongoError):  # a broken stream may fail to close: it is gone anyway
            self._stream.close()


class ChangeStreamWatch:
    """Opens change streams on one collection."""

    def __init__(self, collection: Any, where: str) -> None:
        self._collection = collection
        self._where = where

    def open(self) -> ChangeStreamInserts:
        with translate_errors(self._where):
            stream = self._collection.watch(INSERTS, max_await_time_ms=AWAIT_MS)
        return ChangeStreamInserts(stream, self._where)


def has_change_streams(client: MongoClient[Document], where: str) -> bool:
    """Whether the server is a replica set member (its `hello` names the set)."""
    try:
        with translate_errors(where):
            hello = client.admin.command("hello")
    except BackendUnavailable as error:
        log.info("cannot tell whether MongoDB at %s has change streams (%s)", where, error)
        return False
    return bool(hello.get("setName"))
