"""The partition count's record in `config`, and the `partition` field of gateways and events.

`CountRecord` reads and writes the one document `outbox init` records P in; `Partitioned` asks
and backfills the documents' partitions for repartitioning and `outbox status`. Which partition
a gateway is in, and when P may change, are decided by the caller (`outbox.coordination`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from outbox.store.port import CONFIG, GATEWAYS, OUTBOX, Collection, Collections, Document, Store
from outbox.store.repository import NOT_PARKED, UNPUBLISHED, collections_of

RECORD_ID = "partitions"  # the `_id` of the count's document in `config`
CHUNK = 5000  # ids per backfill update: one `$in` of every id could outgrow a MongoDB command


class CountRecord:
    def __init__(self, source: Store | Collections) -> None:
        self._config = collections_of(source).collection(CONFIG)

    def read(self) -> Document | None:
        """The count's document as stored, or None where `outbox init` never recorded one."""
        return self._config.find_one({"_id": RECORD_ID})

    def write(self, count: int, *, at: datetime) -> None:
        """Record `count` (replacing any earlier one), recorded at `at`."""
        document = {"_id": RECORD_ID, "count": count, "recorded_at": at}
        self._config.replace_one({"_id": RECORD_ID}, document, upsert=True)


class Partitioned:
    """Gateways and outbox documents by the partition they are stamped with."""

    def __init__(self, source: Store | Collections) -> None:
        collections = collections_of(source)
        self._gateways = collections.collection(GATEWAYS)
        self._outbox = collections.collection(OUTBOX)

    def empty(self) -> bool:
        """Whether there are neither gateways nor outbox documents."""
        return self._gateways.count_documents({}) == 0 and self._outbox.count_documents({}) == 0

    def unpublished(self) -> int:
        """Outbox documents not yet published, parked ones included."""
        return self._outbox.count_documents(UNPUBLISHED)

    def backlog(self, partition: int) -> int:
        """The partition's unpublished documents that are not parked."""
        # One indexed count: (partition, published_at, occurred_at).
        return self._outbox.count_documents({"partition": partition, **UNPUBLISHED, **NOT_PARKED})

    def stamp_gateways(self, partition_of: Callable[[str], int]) -> int:
        """Give each gateway the partition of its id; returns how many were written."""
        return _stamp(self._gateways, "_id", partition_of)

    def stamp_events(self, partition_of: Callable[[str], int]) -> int:
        """Give each outbox document its gateway's partition; returns how many were written.
        A document whose gateway id is not a string keeps none (the relay parks it)."""
        return _stamp(self._outbox, "aggregate_id", partition_of)


def _stamp(collection: Collection, key: str, partition_of: Callable[[str], int]) -> int:
    """One `update_many` per partition (in chunks) over the documents whose gateway id, under
    `key`, is a string; only those whose stored partition differs (none yet: an older release;
    another: a writer that still used an older P) are written. Returns how many were."""
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for document in collection.find({}, projection={key: 1}):
        owner = document.get(key)
        if isinstance(owner, str):
            by_partition[partition_of(owner)].append(document["_id"])
    return sum(_set_partition(collection, n, ids) for n, ids in sorted(by_partition.items()))


def _set_partition(collection: Collection, partition: int, ids: Sequence[Any]) -> int:
    return sum(
        collection.update_many(
            {"_id": {"$in": list(ids[start : start + CHUNK])}, "partition": {"$ne": partition}},
            {"$set": {"partition": partition}},
        )
        for start in range(0, len(ids), CHUNK)
    )
