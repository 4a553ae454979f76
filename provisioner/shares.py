"""What of the stream this replica owns: the one shared partition, or its leased partitions.

Without a recorded partition count there is one partition, the configured stream (its key, its
dead letters and its metrics as they always were): every replica owns it at once and competes
for its entries in the group, with no lease. With a count P, each partition has its own stream
and is owned by one replica through its MongoDB lease (`outbox.coordination.ownership`). The
readers (`provisioner.partition_work`) run the same code on either; a share says only which
partitions are owned, which gateways go with them, whose entries a reader takes over, and
whether each owned partition gets a thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.partitions import partition_of
from outbox.stream import EventStream
from outbox.stream.keys import partition_stream
from provisioner.heartbeat import Heartbeat
from provisioner.partition_reader import DeadConsumers, EveryConsumer, Takeover

MayRelease = Callable[[int], bool]


class Share(Protocol):
    partitions: int
    # Each owned partition read by a thread of its own (one XREADGROUP across partitions would be
    # CROSSSLOT on a cluster, serial blocking reads would add up), or by the daemon's loop.
    threaded: bool

    def balance(self, *, force: bool, may_release: MayRelease) -> frozenset[int]:
        """Renew, hand back and take when due; the partitions owned now. Raises
        BackendUnavailable."""
        ...

    def owned(self) -> frozenset[int]: ...

    def valid(self, partition: int) -> bool:
        """Whether this replica may still read and ack in the partition."""
        ...

    def owns(self, gateway_id: str) -> bool:
        """Whether this replica may work on the gateway now."""
        ...

    def scope(self) -> frozenset[int] | None:
        """The partitions whose gateways this replica sweeps; None: every gateway."""
        ...

    def stream_of(self, partition: int) -> EventStream: ...

    def takeover(self) -> Takeover:
        """The takeover of a reader that starts on one of the partitions."""
        ...

    def leave(self) -> None: ...


ONLY = frozenset({0})


class SharedPartition:
    partitions = 1
    threaded = False  # the daemon's loop reads it, between its beats, sweeps and timers

    def __init__(self, stream: EventStream, heartbeat: Heartbeat) -> None:
        self._stream = stream
        self._heartbeat = heartbeat

    def balance(self, *, force: bool, may_release: MayRelease) -> frozenset[int]:
        return ONLY

    def owned(self) -> frozenset[int]:
        return ONLY

    def valid(self, partition: int) -> bool:
        return True

    def owns(self, gateway_id: str) -> bool:
        return True

    def scope(self) -> frozenset[int] | None:
        return None

    def stream_of(self, partition: int) -> EventStream:
        return self._stream

    def takeover(self) -> Takeover:
        return DeadConsumers(self._heartbeat)

    def leave(self) -> None:
        """Nothing is held: the heartbeat record goes with the daemon."""


class LeasedPartitions:
    threaded = True

    def __init__(
        self,
        ownership: PartitionOwnership,
        stream: EventStream,
        *,
        on_balance: Callable[[frozenset[int]], None] = lambda owned: None,
    ) -> None:
        """`stream`: the configured stream, whose name each partition's stream is named after;
        `on_balance` hears the owned partitions after every balancing turn (the gauges)."""
        self.ownership = ownership
        self.partitions = ownership.partitions
        base = stream.config
        self._streams = [
            stream.with_config(
                replace(base, stream=partition_stream(base.stream, n), dead_letters="")
            )
            for n in range(self.partitions)
        ]
        self._on_balance = on_balance

    def balance(self, *, force: bool, may_release: MayRelease) -> frozenset[int]:
        owned = self.ownership.balance(force=force, may_release=may_release)
        self._on_balance(owned)
        return owned

    def owned(self) -> frozenset[int]:
        return self.ownership.owned()

    def valid(self, partition: int) -> bool:
        return self.ownership.valid(partition)

    def owns(self, gateway_id: str) -> bool:
        return self.ownership.valid(partition_of(gateway_id, self.partitions))

    def scope(self) -> frozenset[int] | None:
        return self.ownership.owned()

    def stream_of(self, partition: int) -> EventStream:
        return self._streams[partition]

    def takeover(self) -> Takeover:
        return EveryConsumer()

    def leave(self) -> None:
        self.ownership.leave()
