"""Builds a relay from its settings, a store and the event stream (for the command line, tests)."""

from __future__ import annotations

from outbox.clock import Clock, utcnow
from outbox.store import Store
from outbox.stream import EventStream, StreamConfig
from relay.daemon import Relay
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
    """`stream` may be any view of the backend: the relay sees it with its settings' names."""
    publisher = stream.with_config(stream_config(settings))
    wakeup = ChangeStreamWakeup.when_supported(store) if change_streams else None
    return Relay(store, publisher, settings, wakeup=wakeup, clock=clock)
