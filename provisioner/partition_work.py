"""A provisioner replica's readers: one `PartitionReader` per partition it owns.

What is owned comes from the share (`provisioner.shares`), learnt from the store at MongoDB's
first answer. A leased partition gets a thread of its own, which checks the lease before every
turn and ends when the lease is lost; the one shared partition is turned by the daemon's loop,
under its outage guard. A Redis outage stops only the readers, never the sweeps: the leases
and the heartbeat live in MongoDB.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from outbox.domain.errors import BackendUnavailable, OutboxError
from outbox.domain.partitions import partition_of
from provisioner.partition_reader import READ_BLOCK_MS, SHORT_WAIT, PartitionReader, ReaderParts
from provisioner.shares import Share

log = logging.getLogger(__name__)

OUTAGE_WAIT = 1.0  # between a reader thread's attempts while Redis is away


class NotOwned(OutboxError):
    """The gateway's partition is not (or no longer) this replica's: its owner handles it."""


class Partitioning:
    """Which share this replica works on, learnt from the store at MongoDB's first answer (a
    replica may start during an outage): until then it handles no gateway at all, since its
    peers may be partitioned."""

    def __init__(self, resolve: Callable[[], Share]) -> None:
        self._resolve = resolve
        self.share: Share | None = None

    def learn(self) -> None:
        """Read the record once; raises BackendUnavailable while MongoDB is away."""
        if self.share is None:
            self.share = self._resolve()

    def owns(self, gateway_id: str) -> bool:
        return self.share is not None and self.share.owns(gateway_id)

    def owned(self) -> frozenset[int] | None:
        """The partitions whose gateways are this replica's to look at; None: every gateway."""
        return frozenset() if self.share is None else self.share.scope()


class PartitionWork:
    def __init__(self, partitioning: Partitioning, parts: ReaderParts) -> None:
        self._partitioning = partitioning
        self._parts = parts
        self._readers: dict[int, PartitionReader] = {}
        self._threads: dict[int, _ReaderThread] = {}

    @property
    def ownership(self) -> Share | None:
        return self._partitioning.share

    @property
    def threaded(self) -> bool:
        """Every owned partition has a reader thread: the daemon's loop only keeps time."""
        return self.ownership is not None and self.ownership.threaded

    def balance(self, in_hand: Callable[[], list[str]], *, force: bool = False) -> None:
        """Balance the share when due; a reader for each owned partition, none for the rest.
        A partition is handed back only once none of its gateways is in the workers' hands."""
        share = self.ownership
        if share is None:
            return
        owned = share.balance(force=force, may_release=lambda n: _idle(share, n, in_hand()))
        for partition in [n for n in self._readers if n not in owned]:
            self._drop(partition)
        for partition in owned:
            if not self._reading(partition):
                self._add(share, partition)

    def in_loop(self) -> list[PartitionReader]:
        """The readers the daemon's loop turns (none where each has a thread)."""
        return [] if self.threaded else list(self._readers.values())

    def drain(self, stopping: Callable[[], bool]) -> None:
        """`--once`: read every owned partition to its end, in this thread."""
        self.stop()
        share = self.ownership
        if share is None:
            return
        for partition in sorted(share.owned()):
            reader = self._readers.get(partition) or self._reader(share, partition)
            reader.drain(stopping)

    def stop(self) -> None:
        """Stop every reader thread (each finishes its read) and wait for them."""
        threads = list(self._threads.values())
        self._threads = {}
        for thread in threads:
            thread.stop()
        for thread in threads:
            thread.join(timeout=READ_BLOCK_MS / 1000 * 4)

    def leave(self) -> None:
        if self.ownership is not None:
            self.ownership.leave()

    def _reading(self, partition: int) -> bool:
        """A reader for the partition, and its thread (where it has one) still running."""
        if partition not in self._readers:
            return False
        thread = self._threads.get(partition)
        return thread is None or thread.is_alive()

    def _reader(self, share: Share, partition: int) -> PartitionReader:
        return PartitionReader(
            share.stream_of(partition),
            parts=self._parts,
            takeover=share.takeover(),
            valid=lambda: share.valid(partition),
        )

    def _add(self, share: Share, partition: int) -> None:
        reader = self._reader(share, partition)
        self._readers[partition] = reader
        if share.threaded:
            thread = _ReaderThread(reader, partition)
            self._threads[partition] = thread
            thread.start()

    def _drop(self, partition: int) -> None:
        self._readers.pop(partition)
        thread = self._threads.pop(partition, None)
        if thread is not None:
            thread.stop()


def _idle(share: Share, partition: int, in_hand: list[str]) -> bool:
    """No gateway of the partition in the workers' hands: it may be handed back."""
    return all(partition_of(g, share.partitions) != partition for g in in_hand)


class _ReaderThread(threading.Thread):
    """Turns one partition's reader while this replica owns the partition."""

    def __init__(self, reader: PartitionReader, partition: int) -> None:
        super().__init__(name=f"partition-{partition}", daemon=True)
        self._reader = reader
        self._partition = partition
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set() and self._reader.valid():
            try:
                self._reader.turn(READ_BLOCK_MS)
            except BackendUnavailable as error:
                log.warning(
                    "partition %d: %s; reading again in %.0fs", self._partition, error, OUTAGE_WAIT
                )
                self._stopping.wait(OUTAGE_WAIT)
                continue
            if self._reader.busy:
                self._stopping.wait(SHORT_WAIT)  # back-pressure: the workers catch up first
        log.debug("reader of partition %d stopped", self._partition)
