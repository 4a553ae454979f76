"""Builds a relay from its settings, a store and the event stream (for the command line, tests)."""

from __future__ import annotations

from outbox.coordination.ownership import PartitionOwnership
from outbox.coordination.partition_count import read_record
from outbox.domain.clock import Clock, utcnow
from outbox.store.port import Store
from outbox.stream import EventStream, StreamConfig
from relay.daemon import Relay
from relay.outbox_reader import OutboxReader
from relay.partition_lease import PartitionLeases
from relay.partitioned_publisher import PartitionedPublisher
from relay.seeding import seed_marks
from relay.settings import RelaySettings
from relay.wakeup import ChangeStreamWakeup


def stream_config(settings: RelaySettings) -> StreamConfig:
    """The stream as the relay publishes to it."""
    return StreamConfig(
        stream=settings.stream,
        maxlen=settings.stream_maxlen,
        max_entry_bytes=settings.max_entry_bytes,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=round(settings.redis_wait_timeout * 1000),
    )


def build_relay(
    settings: RelaySettings,
    *,
    store: Store,
    stream: EventStream,
    clock: Clock = utcnow,
    change_streams: bool = True,
) -> Relay:
    """`stream` may be any view of the backend: the relay sees it with its settings' names.
    Where `outbox init` recorded partitions, the relay owns a share of them and publishes
    into their streams; elsewhere it holds the one lease and publishes into the one stream."""
    publisher = stream.with_config(stream_config(settings))
    wakeup = ChangeStreamWakeup.when_supported(store) if change_streams else None
    record = read_record(store)
    if record is None:
        return Relay(store, publisher, settings, wakeup=wakeup, clock=clock)
    ownership = PartitionOwnership(
        store,
        role="relay",
        owner=settings.relay_id,
        stream=settings.stream,
        partitions=record.count,
        lease_seconds=settings.lease_seconds,
        clock=clock,
    )
    reader = OutboxReader(store, owned=ownership.owned, partitions=record.count)
    return Relay(
        store,
        PartitionedPublisher(
            publisher,
            ownership,
            seed=lambda partition_stream, token: seed_marks(reader, partition_stream, token=token),
        ),
        settings,
        reader=reader,
        lease=PartitionLeases(ownership),
        wakeup=wakeup,
        clock=clock,
    )
