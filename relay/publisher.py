"""Publishing a batch into its partitions' streams, each fenced by its own lease token.

Each event goes to its partition's stream (`relay.layout`: OUTBOX_STREAM itself where the store
records no partitions, `{events:gateway:N}` where it does), in one round trip per partition,
fenced by that partition's token. An event of a partition whose lease is no longer trusted, or
whose stream has seen a newer token (another relay took it over), is held back: it stays
unpublished for the partition's next owner. A stream without high-water marks (written by the
release with per-event dedupe keys, or its marks were lost) is seeded once, then published to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.events import OutboxEvent
from outbox.stream import EventStream, Fenced, MarksUnseeded, Publication
from relay.layout import Layout
from relay.outbox_reader import OutboxReader
from relay.seeding import seed_marks

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        stream: EventStream,
        layout: Layout,
        ownership: PartitionOwnership,
        *,
        reader: OutboxReader,
        name: str,
    ) -> None:
        """`stream` is the stream OUTBOX_STREAM (`name`) names; the partitions' streams are
        views of the same backend."""
        self._streams = [_named(stream, name, each) for each in layout.streams(name)]
        self._layout = layout
        self._ownership = ownership
        self._reader = reader

    def publish(self, events: Sequence[OutboxEvent]) -> list[Publication]:
        """Each partition's events into its stream; outcomes in the order of `events`."""
        outcomes: dict[str, Publication] = {}
        for partition, batch in self._by_partition(events).items():
            for outcome in self._publish_partition(partition, batch):
                outcomes[outcome.event_id] = outcome
        return [outcomes[event.id] for event in events]

    def ping(self) -> None:
        self._streams[0].ping()

    def _publish_partition(self, partition: int, batch: list[OutboxEvent]) -> list[Publication]:
        token = self._ownership.token(partition)
        if token is None or not self._ownership.valid(partition):
            return _held(batch)
        stream = self._streams[partition]
        try:
            try:
                return stream.publish(batch, token=token)
            except MarksUnseeded:
                # Learn what is in the stream before publishing anything, then send the same
                # batch (the refused publish raised the fence).
                seed_marks(self._reader, stream, token=token)
                return stream.publish(batch, token=token)
        except Fenced as error:
            log.warning("%s; handing over lease %s", error, self._ownership.names[partition])
            self._ownership.forget(partition)
            return _held(batch)

    def _by_partition(self, events: Sequence[OutboxEvent]) -> dict[int, list[OutboxEvent]]:
        grouped: dict[int, list[OutboxEvent]] = {}
        for event in events:
            partition = self._layout.partition(event)
            # The reader turned events without a usable partition into documents to park.
            assert partition is not None
            grouped.setdefault(partition, []).append(event)
        return grouped


def _named(stream: EventStream, configured: str, name: str) -> EventStream:
    """The stream as handed in where the partition's stream is the configured one (a store
    without partitions); else a view of it under the partition's name."""
    if name == configured:
        return stream
    return stream.with_config(replace(stream.config, stream=name, dead_letters=""))


def _held(batch: list[OutboxEvent]) -> list[Publication]:
    return [Publication(event_id=event.id, held=True) for event in batch]
