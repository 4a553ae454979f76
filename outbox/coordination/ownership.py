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
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from outbox.coordination.lease_holder import Lease
from outbox.coordination.leases import LeaseRecord, parse_lease
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
        lease_names: Sequence[str] | None = None,
    ) -> None:
        """`membership`: the daemon's own record (the provisioner's heartbeat), beaten here too;
        without one, a record that beats at the balancing pace. `lease_names`: one per
        partition, where they are not `lease_name(role, stream, n)` (the relay's one lease of
        a store without recorded partitions keeps the name of the releases before them)."""
        self.role = role
        self.owner = owner
        self.partitions = partitions
        self.interval = lease_seconds / TURNS_PER_LEASE
        # Beats at the balancing pace: the record lapses (MISSED_BEATS intervals) before the
        # leases do, so survivors count one replica fewer by the time its leases turn free.
        self.membership = membership or Membership(
            store, role=role, name=owner, interval=self.interval, clock=clock
        )
        names = lease_names or [lease_name(role, stream, n) for n in range(partitions)]
        assert len(names) == partitions
        self._leases = [
            Lease(store, name=name, owner=owner, seconds=lease_seconds, clock=clock)
            for name in names
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
        if self._is_due(now, force):
            self._done(now, freed_at=self._turn(now, may_release))
        return self.owned()

    def hold_all(self, *, force: bool = False) -> frozenset[int]:
        """When due (or `force`): renew the held leases and take every free one, whatever the
        fair share (the relay's `--once`, which drains every partition). Returns the partitions
        held now. Raises BackendUnavailable."""
        now = self._clock()
        if self._is_due(now, force):
            for lease in self._leases:
                lease.acquire()
            self._done(now)
        return self.held()

    def _is_due(self, now: datetime, force: bool) -> bool:
        return force or self._due is None or now >= self._due

    def _done(self, now: datetime, *, freed_at: datetime | None = None) -> None:
        # Only after a turn that got through: one cut short by an outage is tried again at
        # the next call, not an interval later, so the leases come back with the backend.
        # The next turn comes when a lease of another replica runs out, if that is sooner: a
        # standby takes over the moment the holder's lease has expired.
        due = now + timedelta(seconds=self.interval)
        self._due = due if freed_at is None else min(due, freed_at)

    def _turn(self, now: datetime, may_release: Callable[[int], bool]) -> datetime | None:
        """One turn of balancing; returns when the first lease held by another runs out."""
        self.membership.beat()
        members = len(self.membership.live(now))
        for n in self.held():
            if not self._leases[n].acquire():
                log.warning("%s %s lost partition %d", self.role, self.owner, n)
        others = self._held_by_others(now)
        moves = rebalance(self.partitions, members, self.held(), frozenset(others))
        self._handing_back = set(moves.release)
        for n in [n for n in moves.release if may_release(n)]:
            self._leases[n].release()
            self._handing_back.discard(n)
            log.info("%s %s handed back partition %d (fair share)", self.role, self.owner, n)
        for n in moves.take:
            if self._leases[n].acquire():
                log.info("%s %s took partition %d", self.role, self.owner, n)
        return min(others.values(), default=None)

    @property
    def names(self) -> list[str]:
        """The partitions' lease names, in order."""
        return [lease.name for lease in self._leases]

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

    def records(self) -> dict[int, LeaseRecord]:
        """Each partition's lease as stored, held or not (those never taken have none)."""
        names = {lease.name: n for n, lease in enumerate(self._leases)}
        documents = self._records.among(list(names))
        return {names[record.name]: record for record in map(parse_lease, documents)}

    def _held_by_others(self, now: datetime) -> dict[int, datetime]:
        """The partitions other replicas hold now, with the expiry of each lease."""
        return {
            n: record.expires_at
            for n, record in self.records().items()
            if record.expires_at is not None and record.holder_at(now) not in (None, self.owner)
        }
