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
from outbox.store.partition_records import CountRecord
from outbox.store.port import Collections, Store

UNRECORDED = 1  # a store from before partitions: everything is one partition


@dataclass(frozen=True)
class PartitionRecord:
    count: int
    recorded_at: datetime | None


def read_record(source: Store | Collections) -> PartitionRecord | None:
    """The recorded partition count, or None where `outbox init` never recorded one."""
    document = CountRecord(source).read()
    if document is None:
        return None
    at = document.get("recorded_at")
    return PartitionRecord(
        count=check_partitions(document.get("count")),  # type: ignore[arg-type]
        recorded_at=as_utc(at) if isinstance(at, datetime) else None,
    )


def partition_count(source: Store | Collections) -> int:
    """P as recorded, 1 where none is."""
    record = read_record(source)
    return UNRECORDED if record is None else record.count


class CachedCount:
    """P as recorded, read again at most every `ttl` seconds: the writer stamps every create
    without one more round trip each. Repartitioning asks for the writers to be stopped (or to
    wait out the ttl); a gateway stamped with an older P is parked by the relay, and the next
    `outbox init` gives it its partition."""

    def __init__(
        self,
        source: Store | Collections,
        *,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source, self._ttl, self._monotonic = source, ttl, monotonic
        self._lock = threading.Lock()
        self._value: tuple[int, float] | None = None  # (count, read at)

    def count(self) -> int:
        now = self._monotonic()
        with self._lock:
            if self._value is None or now - self._value[1] >= self._ttl:
                self._value = (partition_count(self._source), now)
            return self._value[0]


def write_record(source: Store | Collections, count: int, *, at: datetime) -> None:
    """Record P (only `outbox init` calls this, after checking a change is safe)."""
    CountRecord(source).write(check_partitions(count), at=at)
