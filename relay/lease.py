"""The relay's lease: the one-lease interface its loop knows, over one MongoDB lease per partition
(`outbox.coordination.ownership`, which the provisioner shares).

A store without recorded partitions is one partition, so its lease is the one lease of the
releases before partitions (`relay:<stream>`): one relay holds it, the others stand by. With P
partitions, each relay holds a fair share, balanced between batches; under `--once` it holds
all of them. The relay holds "the lease" while it holds at least one partition. Each partition
is fenced with its own token (`relay.publisher`); `token` is the highest, for the gauge.
"""

from __future__ import annotations

from outbox.coordination.leases import LeaseRecord
from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.clock import Clock
from outbox.store.port import Store
from relay.layout import ROLE, Layout
from relay.settings import RelaySettings

NAMED = 3  # leases a message names before it counts the rest


class RelayLease:
    def __init__(self, ownership: PartitionOwnership) -> None:
        self.ownership = ownership
        self.names = ownership.names
        self.name = _listed(self.names)
        self._every = False  # `--once`: every partition, not a fair share

    @classmethod
    def of(
        cls, store: Store, settings: RelaySettings, layout: Layout, *, clock: Clock
    ) -> RelayLease:
        """The leases of this relay (`settings.relay_id`) over the partitions of `layout`."""
        return cls(
            PartitionOwnership(
                store,
                role=ROLE,
                owner=settings.relay_id,
                stream=settings.stream,
                partitions=layout.count,
                lease_seconds=settings.lease_seconds,
                clock=clock,
                lease_names=layout.lease_names(settings.stream),
            )
        )

    @property
    def token(self) -> int | None:
        tokens = [self.ownership.token(n) for n in self.ownership.held()]
        return max((t for t in tokens if t is not None), default=None)

    def acquire(self) -> bool:
        """Renew and balance when due; True while this relay may publish to some partition."""
        if self._every:
            return bool(self.ownership.hold_all())
        return bool(self.ownership.balance())

    def take_every(self) -> bool:
        """`--once`: take every partition's lease from now on (those free now at once); True
        once all are held."""
        self._every = True
        return len(self.ownership.hold_all(force=True)) == self.ownership.partitions

    def valid(self) -> bool:
        return bool(self.ownership.owned())

    def owned(self) -> frozenset[int]:
        """The partitions this relay may publish to now."""
        return self.ownership.owned()

    def forget(self) -> None:
        for partition in self.ownership.held():
            self.ownership.forget(partition)

    def release(self) -> None:
        self.ownership.leave()

    def holder(self) -> LeaseRecord | None:
        """The first partition's lease as stored (held or not; the one lease of a store
        without partitions), or None when no relay ever took it."""
        return self.ownership.records().get(0)

    def refusal(self) -> str:
        """Why this relay lacks partitions: who holds their leases, and until when."""
        owned = self.ownership.owned()
        records = self.ownership.records()
        reasons = [
            _refusal(self.names[n], records.get(n))
            for n in range(self.ownership.partitions)
            if n not in owned
        ]
        more = f" and {len(reasons) - NAMED} more" if len(reasons) > NAMED else ""
        return "; ".join(reasons[:NAMED]) + more


def _refusal(name: str, record: LeaseRecord | None) -> str:
    if record is None or record.owner is None:
        return f"could not take lease {name}"
    return (
        f"lease {name} is held by relay {record.owner} until "
        f"{record.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    )


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return ", ".join(names[:NAMED]) + more
