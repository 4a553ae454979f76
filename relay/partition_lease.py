"""The relay's leases when the store records partitions: the one-lease interface the relay loop
knows, over one lease per partition (`outbox.coordination.ownership`).

The relay holds "the lease" while it holds at least one partition; its token is the highest of
its partitions' tokens (only for the gauge: each partition is fenced with its own token, by the
partitioned publisher). `acquire()` balances when due, between batches.
"""

from __future__ import annotations

from outbox.coordination.leases import LeaseRecord
from outbox.coordination.ownership import PartitionOwnership


class PartitionLeases:
    def __init__(self, ownership: PartitionOwnership) -> None:
        self.ownership = ownership
        self.name = f"{ownership.role} partitions of {ownership.owner}"
        self.owner = ownership.owner

    @property
    def token(self) -> int | None:
        tokens = [self.ownership.token(n) for n in self.ownership.held()]
        return max((t for t in tokens if t is not None), default=None)

    def acquire(self) -> bool:
        """Balance when due; True while this relay may publish to some partition."""
        return bool(self.ownership.balance())

    def valid(self) -> bool:
        return bool(self.ownership.owned())

    def forget(self) -> None:
        for partition in self.ownership.held():
            self.ownership.forget(partition)

    def release(self) -> None:
        self.ownership.leave()

    def holder(self) -> LeaseRecord | None:
        return None  # many leases: `outbox status` shows each partition's holder
