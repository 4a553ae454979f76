"""A provisioner replica's partitions: leases in MongoDB, one reader thread per owned partition.

Ownership is exclusive, so on taking a partition the replica claims every entry pending in its
stream at once (no idle wait), whoever held them. Each reader checks the lease before every
read; the daemon checks it before each ack and each commit, and hands a gateway to its workers
only while it owns the gateway's partition: one gateway is handled by one replica at a time.
One XREADGROUP across partitions would be CROSSSLOT on a cluster, and serial blocking reads
would add up to P times the block time: hence a thread per partition. The leases live in
MongoDB, so a Redis outage stops only the readers, never the sweeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.errors import BackendUnavailable, OutboxError
from outbox.domain.partitions import partition_of
from outbox.stream import Claimed, EventStream
from outbox.stream.keys import partition_stream

log = logging.getLogger(__name__)

READ_BLOCK_MS = 500  # a reader notices a lost lease or a stop within this
OUTAGE_WAIT = 1.0  # between a reader's attempts while Redis is away
PENDING_AT_ONCE = 10_000


class NotOwned(OutboxError):
    """The gateway's partition is not (or no longer) this replica's: its owner handles it."""


class Handler(Protocol):
    """What a reader hands its entries to (the daemon)."""

    def handle_entry(
        self, stream: EventStream, entry_id: str, fields: dict[str, str], deliveries: int
    ) -> None: ...

    def handle_claimed(self, stream: EventStream, claimed: Claimed) -> None: ...

    def busy(self) -> bool: ...

    def in_hand(self) -> list[str]:
        """Gateways queued or being handled by the workers."""
        ...


class PartitionWork:
    def __init__(
        self,
        ownership: PartitionOwnership,
        stream: EventStream,
        *,
        batch: int,
        reclaim_idle_ms: int,
    ) -> None:
        base = stream.config
        self.ownership = ownership
        self._streams = [
            stream.with_config(
                replace(base, stream=partition_stream(base.stream, n), dead_letters="")
            )
            for n in range(ownership.partitions)
        ]
        self._batch = batch
        self.reclaim_idle_ms = reclaim_idle_ms
        self._readers: dict[int, _Reader] = {}

    def owns(self, gateway_id: str) -> bool:
        """Whether this replica may work on the gateway now (its partition's lease trusted)."""
        return self.ownership.valid(partition_of(gateway_id, self.ownership.partitions))

    def balance(self, handler: Handler, *, force: bool = False) -> frozenset[int]:
        """Balance the leases when due; a reader for each owned partition, none for the rest."""
        owned = self.ownership.balance(force=force, may_release=lambda n: self._idle(n, handler))
        for partition in [n for n in self._readers if n not in owned]:
            self._readers.pop(partition).stop()
        for partition in owned:
            reader = self._readers.get(partition)
            if reader is None or not reader.is_alive():
                self._readers[partition] = _Reader(self, partition, handler)
                self._readers[partition].start()
        return owned

    def _idle(self, partition: int, handler: Handler) -> bool:
        """No gateway of the partition in the workers' hands: it may be handed back."""
        count = self.ownership.partitions
        return all(partition_of(g, count) != partition for g in handler.in_hand())

    def stream_of(self, partition: int) -> EventStream:
        return self._streams[partition]

    def take_pending(self, partition: int, handler: Handler) -> int:
        """Join the group and claim every entry pending in the partition, whoever held it."""
        stream = self._streams[partition]
        stream.ensure_group()
        claimed = stream.claim_own_pending(count=PENDING_AT_ONCE)
        for consumer in stream.consumers():
            if consumer.pending and consumer.name != stream.config.consumer:
                claimed += stream.claim_pending_of(consumer.name, count=PENDING_AT_ONCE)
        for entry in claimed:
            handler.handle_claimed(stream, entry)
        if claimed:
            log.info("partition %d taken: %d pending entries claimed", partition, len(claimed))
        return len(claimed)

    def read(self, partition: int, handler: Handler, *, block_ms: int | None) -> int:
        """One read of new entries of the partition, each handed over; how many."""
        stream = self._streams[partition]
        entries = stream.read_new(count=self._batch, block_ms=block_ms)
        for entry_id, fields in entries:
            handler.handle_entry(stream, entry_id, fields, 1)
        return len(entries)

    def reclaim(self, partition: int, handler: Handler) -> None:
        """Take back entries of the partition left pending past OUTBOX_RECLAIM_IDLE (a pass
        that failed here, an outage): they are handled again."""
        stream = self._streams[partition]
        for entry in stream.reclaim_idle(min_idle_ms=self.reclaim_idle_ms, count=self._batch):
            handler.handle_claimed(stream, entry)

    def drain(self, handler: Handler) -> None:
        """`--once`: take the owned partitions' pending entries, then read each to its end."""
        for partition in sorted(self.ownership.owned()):
            self.take_pending(partition, handler)
            while self.ownership.valid(partition) and self.read(partition, handler, block_ms=None):
                pass

    def stop(self) -> None:
        """Stop every reader (each finishes its read) and wait for them."""
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            reader.stop()
        for reader in readers:
            reader.join(timeout=READ_BLOCK_MS / 1000 * 4)

    def leave(self) -> None:
        self.ownership.leave()


class _Reader(threading.Thread):
    """Reads one partition while this replica owns it: pending entries first, then new ones."""

    def __init__(self, work: PartitionWork, partition: int, handler: Handler) -> None:
        super().__init__(name=f"partition-{partition}", daemon=True)
        self._work, self._partition, self._handler = work, partition, handler
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        joined, reclaim_due = False, time.monotonic()
        while not self._stopping.is_set() and self._work.ownership.valid(self._partition):
            try:
                if not joined:
                    self._work.take_pending(self._partition, self._handler)
                    joined = True
                if time.monotonic() >= reclaim_due:
                    reclaim_due = time.monotonic() + self._work.reclaim_idle_ms / 2000
                    self._work.reclaim(self._partition, self._handler)
                if self._handler.busy():
                    self._stopping.wait(0.05)  # back-pressure: the workers catch up first
                    continue
                self._work.read(self._partition, self._handler, block_ms=READ_BLOCK_MS)
            except BackendUnavailable as error:
                log.warning("partition %d: %s; reading again in %.0fs", self._partition, error, 1)
                self._stopping.wait(OUTAGE_WAIT)
        log.debug("reader of partition %d stopped", self._partition)


class Partitioning:
    """Whether this replica works on partitions, learnt from the store at MongoDB's first
    answer (a replica may start during an outage): until then it handles no gateway at all,
    since its peers may be partitioned."""

    def __init__(self, resolve: Callable[[], PartitionWork | None]) -> None:
        self._resolve = resolve
        self.known = False
        self.work: PartitionWork | None = None

    @classmethod
    def none(cls) -> Partitioning:
        """Unpartitioned from the start (tests that build the daemon by hand)."""
        partitioning = cls(lambda: None)
        partitioning.known = True
        return partitioning

    def learn(self) -> None:
        """Read the record once; raises BackendUnavailable while MongoDB is away."""
        if not self.known:
            self.work = self._resolve()
            self.known = True

    def owns(self, gateway_id: str) -> bool:
        if not self.known:
            return False
        return self.work is None or self.work.owns(gateway_id)

    def owned(self) -> frozenset[int] | None:
        """The owned partitions, or None when everything is this replica's to look at."""
        if self.work is None:
            return None if self.known else frozenset()
        return self.work.ownership.owned()
