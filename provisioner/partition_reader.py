"""One partition's stream as this replica reads it in the group: join, take over, reclaim, read.

The same reader serves the one shared partition (no recorded count: every replica reads the
configured stream, competing in the group) and each leased partition; what differs is data, the
`Takeover` its share gives it: whose pending entries it takes over besides its own, and when.
Every entry goes to the consumer half (`Entries`: `provisioner.consumer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from outbox.stream import Claimed, EventStream
from provisioner.heartbeat import Heartbeat

log = logging.getLogger(__name__)

READ_BLOCK_MS = 500  # longest wait for new entries: a reader must also beat, reclaim, notice a stop
SHORT_WAIT = 0.05  # against spinning: a server that ignores BLOCK, a full pool
PENDING_AT_ONCE = 10_000  # entries taken back from one consumer in one call


class Entries(Protocol):
    """Where a reader hands what it reads (the consumer half, `provisioner.consumer`)."""

    def entry(
        self, stream: EventStream, entry_id: str, fields: dict[str, str], deliveries: int
    ) -> None: ...

    def claimed(self, stream: EventStream, claimed: Claimed) -> None: ...


class Takeover(Protocol):
    """Whose pending entries a reader takes over besides its own, and when."""

    reason: str  # logged with each takeover
    level: int  # the level of that line

    def due(self) -> bool:
        """Whether to look at the group's other consumers now."""
        ...

    def takes(self, consumer: str) -> bool:
        """Whether this consumer's pending entries are taken over."""
        ...

    def looked(self) -> None:
        """The consumers have been looked at (and their entries taken)."""
        ...


class EveryConsumer:
    """A leased partition is this replica's alone: on joining, it claims whatever anybody left
    pending there at once (no idle wait)."""

    reason = "the partition is ours alone"
    level = logging.INFO

    def __init__(self) -> None:
        self._joining = True

    def due(self) -> bool:
        return self._joining

    def takes(self, consumer: str) -> bool:
        return True

    def looked(self) -> None:
        self._joining = False


class DeadConsumers:
    """The shared partition is every replica's: once after each beat, it takes over what
    consumers without a live heartbeat left pending. They will never ack it, so waiting out
    OUTBOX_RECLAIM_IDLE would only delay their gateways."""

    reason = "no live heartbeat"
    level = logging.WARNING

    def __init__(self, heartbeat: Heartbeat) -> None:
        self._heartbeat = heartbeat

    def due(self) -> bool:
        return self._heartbeat.live is not None

    def takes(self, consumer: str) -> bool:
        live = self._heartbeat.live
        return live is not None and consumer not in live

    def looked(self) -> None:
        self._heartbeat.looked_at()


@dataclass(frozen=True)
class ReaderParts:
    """What every reader of this replica shares."""

    consumer: Entries
    busy: Callable[[], bool]  # the workers have enough queued: read nothing more for now
    batch: int
    reclaim_idle: float  # seconds an entry stays pending before it is handled again
    consumer_idle: float  # seconds a consumer with nothing pending stays in the group
    monotonic: Callable[[], float]


class PartitionReader:
    def __init__(
        self,
        stream: EventStream,
        *,
        parts: ReaderParts,
        takeover: Takeover,
        valid: Callable[[], bool],
    ) -> None:
        """`valid` says whether this replica may still read the partition (its lease)."""
        self._stream = stream
        self._parts = parts
        self._takeover = takeover
        self.valid = valid
        self._joined = False
        self._reclaim_due = 0.0

    @property
    def busy(self) -> bool:
        return self._parts.busy()

    def join(self) -> None:
        """Join the group (once) and claim this consumer's pending entries; then take over
        what the takeover says."""
        if not self._joined:
            self._stream.ensure_group()
            self._hand_over(self._stream.claim_own_pending(count=PENDING_AT_ONCE))
            self._joined = True
        if self._takeover.due():
            self._take_over()

    def turn(self, block_ms: int | None) -> int:
        """Join or take over, reclaim when due, read new entries unless the workers are busy;
        how many entries were read."""
        self.join()
        if self._parts.monotonic() >= self._reclaim_due:
            self.reclaim()
        if self.busy:
            return 0  # back-pressure: the workers catch up before anything more is read
        return self._read(block_ms)

    def drain(self, stopping: Callable[[], bool]) -> None:
        """`--once`: join, take over, reclaim, then read to the end of the stream."""
        self.join()
        self.reclaim()
        while not stopping() and self.valid() and self._read(None):
            pass

    def reclaim(self) -> None:
        """Take back entries left pending past OUTBOX_RECLAIM_IDLE (a pass that failed here,
        an outage): they are handled again. Consumers idle with nothing pending leave."""
        idle_ms = int(self._parts.reclaim_idle * 1000)
        self._hand_over(self._stream.reclaim_idle(min_idle_ms=idle_ms, count=self._parts.batch))
        self._forget_idle_consumers()
        self._reclaim_due = self._parts.monotonic() + self._parts.reclaim_idle / 2

    def _read(self, block_ms: int | None) -> int:
        entries = self._stream.read_new(count=self._parts.batch, block_ms=block_ms)
        for entry_id, fields in entries:
            self._parts.consumer.entry(self._stream, entry_id, fields, 1)
        return len(entries)

    def _take_over(self) -> None:
        me = self._stream.config.consumer
        for info in self._stream.consumers():
            if info.pending == 0 or info.name == me or not self._takeover.takes(info.name):
                continue
            claimed = self._stream.claim_pending_of(info.name, count=PENDING_AT_ONCE)
            log.log(
                self._takeover.level,
                "%s: took over the %d pending entries of consumer %s (%s)",
                self._stream.config.stream,
                len(claimed),
                info.name,
                self._takeover.reason,
            )
            self._hand_over(claimed)
        self._takeover.looked()

    def _hand_over(self, claimed: Iterable[Claimed]) -> None:
        for entry in claimed:
            self._parts.consumer.claimed(self._stream, entry)

    def _forget_idle_consumers(self) -> None:
        me = self._stream.config.consumer
        for info in self._stream.consumers():
            idle = info.idle_seconds > self._parts.consumer_idle
            if info.name != me and info.pending == 0 and idle:
                self._stream.remove_consumer(info.name)
                log.info("removed idle consumer %s (nothing pending)", info.name)
