"""One replica's share of the partitions: one lease per partition in MongoDB, never in Redis.

Relays and provisioners alike announce themselves in the membership record and hold a fair
share, ceil(P / live replicas), of their role's partition leases. A turn of `balance()` beats,
renews what is held, hands back what is beyond the share and takes free partitions up to it;
the caller runs it between batches, so a partition is handed back only once its in-flight work
has ended. A replica that dies stops beating and renewing: its membership record lapses within
three quarters of the lease time, its leases within the lease time, and the survivors take them
at their next turn. Each lease carries its own fencing token (`Lease`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from outbox.coordination.lease_holder import Lease
from outbox.coordination.leases import parse_lease
from outbox.coordination.membership import MISSED_BEATS, Membership
from outbox.domain.clock import Clock, utcnow
from outbox.domain.partitions import rebalance
from outbox.store.leases import Leases
from outbox.store.port import Store
from outbox.stream.keys import partition_stream

log = logging.getLogger(__name__)

TURNS_PER_LEASE = 4  # balancing turns per lease time: a dead replica's share moves in time


def lease_name(role: str, stream: str, partition: int) -> str:
    """`relay:{events:gateway:3}`: the role, then the partition's stream."""
    return f"{role}:{partition_stream(stream, partition)}"


class PartitionOwnership:
    def __init__(
        self,
        store: Store,
        *,
        role: str,
        owner: str,
        stream: str,
        partitions: int,
        lease_seconds: float,
        clock: Clock = utcnow,
        membership: Membership | None = None,
    ) -> None:
        """`membership`: the daemon's own record (the provisioner's heartbeat), beaten here too;
        without one, a record that beats at the balancing pace."""
        self.role, self.owner, self.partitions = role, owner, partitions
        self.interval = lease_seconds / TURNS_PER_LEASE
        # Beats at the balancing pace: the record lapses (MISSED_BEATS intervals) before the
        # leases do, so survivors count one replica fewer by the time its leases turn free.
        self.membership = membership or Membership(
            store, role=role, name=owner, interval=self.interval, clock=clock
        )
        self._leases = [
            Lease(
                store,
                name=lease_name(role, stream, n),
                owner=owner,
                seconds=lease_seconds,
                clock=clock,
            )
            for n in range(partitions)
        ]
        self._records = Leases(store)
        self._clock = clock
        self._due: datetime | None = None
        self._handing_back: set[int] = set()
        assert MISSED_BEATS < TURNS_PER_LEASE  # see the beat above

    def balance(
        self, *, force: bool = False, may_release: Callable[[int], bool] = lambda n: True
    ) -> frozenset[int]:
        """When due (or `force`): beat, renew, hand back beyond the fair share, take free ones.
        A partition to hand back stops counting as owned at once, but its lease goes only once
        `may_release` says its work in flight has ended (the provisioner's workers): the next
        owner never works on a gateway at the same time. Returns the partitions this replica
        may work on now. Raises BackendUnavailable."""
        now = self._clock()
        if force or self._due is None or now >= self._due:
            self._due = now + timedelta(seconds=self.interval)
            self._turn(now, may_release)
        return self.owned()

    def _turn(self, now: datetime, may_release: Callable[[int], bool]) -> None:
        self.membership.beat()
        members = len(self.membership.live(now))
        for n in self.held():
            if not self._leases[n].acquire():
                log.warning("%s %s lost partition %d", self.role, self.owner, n)
        moves = rebalance(self.partitions, members, self.held(), self._held_by_others(now))
        self._handing_back = set(moves.release)
        for n in [n for n in moves.release if may_release(n)]:
            self._leases[n].release()
            self._handing_back.discard(n)
            log.info("%s %s handed back partition %d (fair share)", self.role, self.owner, n)
        for n in moves.take:
            if self._leases[n].acquire():
                log.info("%s %s took partition %d", self.role, self.owner, n)

    def held(self) -> frozenset[int]:
        """Partitions whose lease this replica took and has not lost or handed back."""
        return frozenset(n for n, lease in enumerate(self._leases) if lease.token is not None)

    def owned(self) -> frozenset[int]:
        """Held partitions whose lease is still trusted now (not near its expiry), but those
        being handed back."""
        return frozenset(
            n
            for n, lease in enumerate(self._leases)
            if lease.valid() and n not in self._handing_back
        )

    def valid(self, partition: int) -> bool:
        return self._leases[partition].valid() and partition not in self._handing_back

    def token(self, partition: int) -> int | None:
        """The fencing token of the partition's lease, while held."""
        return self._leases[partition].token

    def forget(self, partition: int) -> None:
        """Stop trusting one lease at once (a newer token has written to the partition)."""
        self._leases[partition].forget()

    def leave(self) -> None:
        """A clean shutdown: hand back every lease and leave the membership."""
        for lease in self._leases:
            lease.release()
        self.membership.leave()

    def _held_by_others(self, now: datetime) -> frozenset[int]:
        names = {lease.name: n for n, lease in enumerate(self._leases)}
        held = set()
        for document in self._records.among(list(names)):
            record = parse_lease(document)
            holder = record.holder_at(now)
            if holder is not None and holder != self.owner:
                held.add(names[record.name])
        return frozenset(held)
