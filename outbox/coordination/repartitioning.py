"""Recording or changing the partition count P (`outbox init --partitions P`).

A change of P moves gateways between partitions, so it is refused (exit 3, nothing written)
while any event is unpublished or any stream entry is unacked: those would be published or
handled under the old layout. Otherwise P is recorded first (a gateway created from then on is
stamped with the new P) and every gateway and outbox document is then given its partition.
Outbox documents whose gateway id is not a string keep none: the relay parks them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from outbox.coordination.partition_count import read_record, write_record
from outbox.domain.errors import OutboxError
from outbox.domain.partitions import DEFAULT_PARTITIONS, check_partitions, partition_of
from outbox.store.partition_records import Partitioned
from outbox.store.port import Store

log = logging.getLogger(__name__)


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
    # On every run, not only on a change: an older release stamped nothing, and a writer that
    # still used an older P stamped that one.
    documents, partition_in = Partitioned(store), partial(partition_of, partitions=after)
    gateways = documents.stamp_gateways(partition_in)
    events = documents.stamp_events(partition_in)
    return Repartition(before=before, after=after, gateways=gateways, events=events)


def _refuse_unless_settled(
    store: Store, before: int | None, after: int, unacked: Callable[[], int]
) -> None:
    documents = Partitioned(store)
    if documents.empty():
        return  # nothing to move
    unpublished = documents.unpublished()
    waiting = unacked() if unpublished == 0 else 0
    if unpublished or waiting:
        what = f"{unpublished} outbox event(s) unpublished" if unpublished else ""
        what = what or f"{waiting} stream entr{'y' if waiting == 1 else 'ies'} unacked"
        raise RepartitionRefused(
            f"cannot change the partition count from {before or 1} to {after}: {what}; let the "
            "relay and the provisioners drain (`outbox status`), then run it again"
        )
