"""The store's indexes as tests read them, and an outbox from before versions were unique."""

from __future__ import annotations

from typing import Any

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX


def indexes(store: MongoStore | MemoryStore, collection: str) -> dict[tuple[str, ...], Any]:
    """The collection's indexes by their fields (nx-27017 renames every index after them)."""
    return {
        tuple(field for field, _ in info["key"]): info
        for info in store.database[collection].index_information().values()
    }


def as_before_unique_versions(store: MongoStore) -> None:
    """Given: a database from before the version index was unique."""
    outbox = store.database[OUTBOX]
    for name, info in outbox.index_information().items():
        if [field for field, _ in info["key"]] == ["aggregate_id", "version"]:
            outbox.drop_index(name)
    outbox.create_index([("aggregate_id", 1), ("version", 1)], name="by_gateway_version")
