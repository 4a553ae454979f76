"""The partition count as recorded in MongoDB: one document that `outbox init` writes.

Every process reads P from here (the writer when it stamps a new gateway, the daemons and
`outbox status`), never from its own settings, so two processes can never disagree on P. A
store where `outbox init --partitions` never ran has no record: it is one partition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outbox.domain.clock import as_utc
from outbox.domain.partitions import check_partitions
from outbox.store.port import CONFIG, Collections

RECORD_ID = "partitions"
UNRECORDED = 1  # a store from before partitions: everything is one partition


@dataclass(frozen=True)
class PartitionRecord:
    count: int
    recorded_at: datetime | None


def read_record(collections: Collections) -> PartitionRecord | None:
    """The recorded partition count, or None where `outbox init` never recorded one."""
    document = collections.collection(CONFIG).find_one({"_id": RECORD_ID})
    if document is None:
        return None
    at = document.get("recorded_at")
    return PartitionRecord(
        count=check_partitions(document.get("count")),  # type: ignore[arg-type]
        recorded_at=as_utc(at) if isinstance(at, datetime) else None,
    )


def partition_count(collections: Collections) -> int:
    """P as recorded, 1 where none is."""
    record = read_record(collections)
    return UNRECORDED if record is None else record.count


class CachedCount:
    """P as recorded, read again at most every `ttl` seconds: the writer stamps every create
    without one more round trip each. Repartitioning asks for the writers to be stopped (or to
    wait out the ttl); a gateway stamped with an older P is parked by the relay, and the next
    `outbox init` gives it its partition."""

    def __init__(
        self,
        collections: Collections,
        *,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._collections, self._ttl, self._monotonic = collections, ttl, monotonic
        self._lock = threading.Lock()
        self._value: tuple[int, float] | None = None  # (count, read at)

    def count(self) -> int:
        now = self._monotonic()
        with self._lock:
            if self._value is None or now - self._value[1] >= self._ttl:
                self._value = (partition_count(self._collections), now)
            return self._value[0]


def write_record(collections: Collections, count: int, *, at: datetime) -> None:
    """Record P (only `outbox init` calls this, after checking a change is safe)."""
    collections.collection(CONFIG).replace_one(
        {"_id": RECORD_ID},
        {"_id": RECORD_ID, "count": check_partitions(count), "recorded_at": at},
        upsert=True,
    )
