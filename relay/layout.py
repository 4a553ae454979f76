"""How the relay's work splits into partitions: the partitions' streams and leases, and which
partition an outbox event belongs to. Pure: names and numbers, no I/O.

Where `outbox init` recorded a partition count P, partition n has the stream `{<stream>:n}` and
the lease `relay:{<stream>:n}`, and an event carries its partition. Without a count, the store
is one partition laid out as the releases before partitions left it: the stream OUTBOX_STREAM
itself and the lease `relay:<stream>`, whose events carry no partition. So a deployment of
those releases upgrades in place, and the relay runs one code path either way.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from outbox.domain.events import OutboxEvent
from outbox.domain.partitions import partition_of
from outbox.stream.keys import partition_streams

ROLE = "relay"  # the role of the relays' leases and membership records


@dataclass(frozen=True)
class Layout:
    recorded: int | None = None  # the partition count `outbox init` recorded; None: none

    @property
    def count(self) -> int:
        """How many partitions the relays share (one without a recorded count)."""
        return 1 if self.recorded is None else self.recorded

    @property
    def gauged(self) -> range:
        """The partitions `outbox_relay_partition_owned` shows: the recorded ones only."""
        return range(self.recorded or 0)

    def streams(self, stream: str) -> list[str]:
        """Each partition's stream, in order, for the stream OUTBOX_STREAM names."""
        if self.recorded is None:
            return [stream]
        return partition_streams(stream, self.recorded)

    def lease_names(self, stream: str) -> list[str]:
        """Each partition's lease: the role, then the partition's stream."""
        return [f"{ROLE}:{name}" for name in self.streams(stream)]

    def partition(self, event: OutboxEvent) -> int | None:
        """The partition whose stream `event` goes to; None when it can go to none (no
        partition, or one stamped under another count: it is parked)."""
        if self.recorded is None:
            return 0  # written without partitions: every event is of the one partition
        if event.partition == partition_of(event.aggregate_id, self.recorded):
            return event.partition
        return None

    def stored(self, owned: Set[int]) -> list[int | None] | None:
        """The `partition` values stored on the events of the (non-empty) `owned` partitions;
        None: every event. The owner of partition 0 also reads those without one, to park them."""
        if self.recorded is None:
            return None
        return [*sorted(owned), *([None] if 0 in owned else [])]


UNPARTITIONED = Layout()
