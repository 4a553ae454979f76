"""The MongoDB half of the partitions in `outbox status`: per partition, the backlog and who
owns it (relay and provisioner leases). The stream half (lag, pending) is added by the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from outbox.coordination.leases import parse_lease
from outbox.coordination.ownership import lease_name
from outbox.coordination.partition_count import read_record
from outbox.store.leases import Leases
from outbox.store.partition_records import Partitioned
from outbox.store.port import Store

ROLES = ("relay", "provisioner")


@dataclass(frozen=True)
class PartitionRow:
    partition: int
    backlog: int  # unpublished, not parked
    relay: str | None  # holder of the relay lease now, if any
    provisioner: str | None
    lag: int | None = None  # entries of its stream not yet delivered to the group
    pending: int | None = None  # delivered, not yet acked


def partitions_status(store: Store, *, stream: str, now: datetime) -> list[PartitionRow] | None:
    """One row per partition, or None where the store records no partitions."""
    record = read_record(store)
    if record is None:
        return None
    documents = Partitioned(store)
    holders = _holders(store, stream, record.count, now)
    return [
        PartitionRow(
            partition=n,
            backlog=documents.backlog(n),
            relay=holders.get(lease_name("relay", stream, n)),
            provisioner=holders.get(lease_name("provisioner", stream, n)),
        )
        for n in range(record.count)
    ]


def partition_lease_names(stream: str, partitions: int) -> set[str]:
    return {lease_name(role, stream, n) for role in ROLES for n in range(partitions)}


def _holders(store: Store, stream: str, partitions: int, now: datetime) -> dict[str, str]:
    names = sorted(partition_lease_names(stream, partitions))
    records = [parse_lease(document) for document in Leases(store).among(names)]
    return {r.name: holder for r in records if (holder := r.holder_at(now)) is not None}
