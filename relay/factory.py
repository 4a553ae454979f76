"""Builds a relay from its settings, a store and the event stream (for the command line, tests)."""

from __future__ import annotations

from outbox.coordination.partition_count import read_record
from outbox.domain.clock import Clock, utcnow
from outbox.store.port import Store
from outbox.stream import EventStream, StreamConfig
from relay.daemon import Relay
from relay.layout import Layout
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
    into their streams; elsewhere the store is one partition on the stream of its settings."""
    record = read_record(store)
    return Relay(
        store,
        stream.with_config(stream_config(settings)),
        settings,
        layout=Layout(None if record is None else record.count),
        wakeup=ChangeStreamWakeup.when_supported(store) if change_streams else None,
        clock=clock,
    )
