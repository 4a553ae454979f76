"""Recording or changing the partition count P (`outbox init --partitions P`).

A change of P moves gateways between partitions, so it is refused (exit 3, nothing written)
while any event is unpublished or any stream entry is unacked: those would be published or
handled under the old layout. Otherwise P is recorded first (a gateway created from then on is
stamped with the new P) and every gateway and outbox document is then given its partition.
Outbox documents whose gateway id is not a string keep none: the relay parks them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from outbox.coordination.partition_count import read_record, write_record
from outbox.domain.errors import OutboxError
from outbox.domain.partitions import DEFAULT_PARTITIONS, check_partitions, partition_of
from outbox.store.port import GATEWAYS, OUTBOX, Collection, Store

log = logging.getLogger(__name__)

CHUNK = 5000  # ids per backfill update


class RepartitionRefused(OutboxError):
    """P cannot change now: something would be published or handled under the old layout."""


@dataclass(frozen=True)
class Repartition:
    before: int | None  # None: no count was recorded (one partition)
    after: int
    gateways: int  # documents whose partition was (re)written
    events: int

    @property
    def changed(self) -> bool:
        return self.before != self.after


def repartition(
    store: Store,
    requested: int | None,
    *,
    unacked: Callable[[], int],
    now: datetime,
) -> Repartition:
    """Record P (`requested`, or the recorded one, or the default) and give every document its
    partition. `unacked` counts stream entries not yet acked (delivered or not); it is asked
    only when existing documents would move, so a fresh database needs no Redis."""
    record = read_record(store)
    before = None if record is None else record.count
    after = check_partitions(requested if requested is not None else before or DEFAULT_PARTITIONS)
    if before != after:
        _refuse_unless_settled(store, before, after, unacked)
        write_record(store, after, at=now)
        log.info("partition count recorded: %s -> %d", before or "none", after)
    gateways = _stamp(store.collection(GATEWAYS), "_id", after)
    events = _stamp(store.collection(OUTBOX), "aggregate_id", after)
    return Repartition(before=before, after=after, gateways=gateways, events=events)


def _refuse_unless_settled(
    store: Store, before: int | None, after: int, unacked: Callable[[], int]
) -> None:
    outbox = store.collection(OUTBOX)
    if store.collection(GATEWAYS).count_documents({}) == 0 and outbox.count_documents({}) == 0:
        return  # nothing to move
    unpublished = outbox.count_documents({"published_at": None})
    waiting = unacked() if unpublished == 0 else 0
    if unpublished or waiting:
        what = f"{unpublished} outbox event(s) unpublished" if unpublished else ""
        what = what or f"{waiting} stream entr{'y' if waiting == 1 else 'ies'} unacked"
        raise RepartitionRefused(
            f"cannot change the partition count from {before or 1} to {after}: {what}; let the "
            "relay and the provisioners drain (`outbox status`), then run it again"
        )


def _stamp(collection: Collection, key: str, partitions: int) -> int:
    """Give each document its partition, by `update_many`s per partition; only documents whose
    partition differs (none yet: an older release; another: a writer that still used an older
    P) are written. Returns how many were."""
    documents = collection.find({}, projection={key: 1})
    by_partition: dict[int, list[object]] = defaultdict(list)
    for document in documents:
        owner = document.get(key)
        if isinstance(owner, str):
            by_partition[partition_of(owner, partitions)].append(document["_id"])
    return sum(_set_partition(collection, n, ids) for n, ids in sorted(by_partition.items()))


def _set_partition(collection: Collection, partition: int, ids: Sequence[object]) -> int:
    # In chunks: one `$in` of every id could outgrow a MongoDB command.
    return sum(
        collection.update_many(
            {"_id": {"$in": list(ids[start : start + CHUNK])}, "partition": {"$ne": partition}},
            {"$set": {"partition": partition}},
        )
        for start in range(0, len(ids), CHUNK)
    )
