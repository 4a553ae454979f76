"""Publishing into the partitions' streams, each with its own lease token.

A batch of the relay spans the partitions it owns; each event goes to its partition's stream
(`{events:gateway:N}`), fenced by that partition's token. An event of a partition whose lease
is no longer trusted, or whose stream has seen a newer token (another relay took it over), is
held back: it stays unpublished for the partition's new owner. A partition stream without
high-water marks is seeded once, then published to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.events import OutboxEvent
from outbox.stream import EventStream, Fenced, MarksUnseeded, Publication
from outbox.stream.keys import partition_stream

log = logging.getLogger(__name__)

Seed = Callable[[EventStream, int], object]


class PartitionedPublisher:
    def __init__(self, stream: EventStream, ownership: PartitionOwnership, *, seed: Seed) -> None:
        base = stream.config
        self._streams = [
            stream.with_config(replace(base, stream=name, dead_letters=""))
            for name in (partition_stream(base.stream, n) for n in range(ownership.partitions))
        ]
        self._ownership = ownership
        self._seed = seed
        self.config = base

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        """Each partition's events into its stream (one round trip per partition); outcomes in
        the order of `events`. `token` is ignored: every partition has its own."""
        outcomes: dict[str, Publication] = {}
        for partition, batch in _by_partition(events).items():
            for outcome in self._publish_partition(partition, batch):
                outcomes[outcome.event_id] = outcome
        return [outcomes[event.id] for event in events]

    def _publish_partition(self, partition: int, batch: list[OutboxEvent]) -> list[Publication]:
        token = self._ownership.token(partition)
        if token is None or not self._ownership.valid(partition):
            return _held(batch)
        stream = self._streams[partition]
        try:
            try:
                return stream.publish(batch, token=token)
            except MarksUnseeded:
                self._seed(stream, token)
                return stream.publish(batch, token=token)
        except Fenced as error:
            log.warning("partition %d: %s; handing it over", partition, error)
            self._ownership.forget(partition)
            return _held(batch)

    def stream_of(self, partition: int) -> EventStream:
        return self._streams[partition]

    def ping(self) -> None:
        self._streams[0].ping()


def _by_partition(events: Sequence[OutboxEvent]) -> dict[int, list[OutboxEvent]]:
    grouped: dict[int, list[OutboxEvent]] = {}
    for event in events:
        # The reader turned events without a usable partition into documents to park.
        assert event.partition is not None
        grouped.setdefault(event.partition, []).append(event)
    return grouped


def _held(batch: list[OutboxEvent]) -> list[Publication]:
    return [Publication(event_id=event.id, held=True) for event in batch]
