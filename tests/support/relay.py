"""Relays under test: their settings, outbox rows in bulk, and checks of what reached the stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import redis

from outbox.domain.clock import Clock, utcnow
from outbox.domain.events import EventType, OutboxEvent
from outbox.store.port import OUTBOX, Store
from outbox.stream import EventStream, StreamConfig
from outbox.stream.redis.stream import RedisStream
from relay.daemon import Relay
from relay.factory import stream_config
from relay.settings import RelaySettings

STREAM = "events:gateway"


def relay_settings(**overrides: Any) -> RelaySettings:
    """Explicit settings: tests never read the environment or `.env`."""
    values: dict[str, Any] = {
        "stream": STREAM,
        "batch_size": 100,
        "lease_seconds": 5.0,
        "relay_id": "relay-a",
        "metrics_port": 0,
        "poll_min": 0.001,
        "poll_max": 0.02,
        "probe_interval": 0.05,
        "stats_interval": 0.5,
        "retention": 0,
        **overrides,
    }
    return RelaySettings(_env_file=None, **values)  # type: ignore[call-arg]


Source = EventStream | redis.Redis


def as_stream(source: Source) -> EventStream:
    return RedisStream(source) if isinstance(source, redis.Redis) else source


def publisher_for(source: Source, settings: RelaySettings) -> EventStream:
    """The stream as a relay with these settings publishes to it."""
    return as_stream(source).with_config(stream_config(settings))


MakeRelay = Callable[..., Relay]


def insert_events(
    store: Store, per_gateway: int, gateways: int, *, clock: Clock = utcnow, start: int = 1
) -> list[OutboxEvent]:
    """Outbox rows written directly (for volume): versions interleaved across gateways in
    commit order, as concurrent writers would produce them."""
    base = clock()
    events = [
        OutboxEvent(
            type=EventType.CREATED if version == 1 else EventType.SPEC_UPDATED,
            aggregate_id=f"gw_{gateway:04d}",
            version=version,
            payload={"n": version},
            occurred_at=base + timedelta(milliseconds=(version - start) * gateways + gateway),
        )
        for version in range(start, start + per_gateway)
        for gateway in range(gateways)
    ]
    store.collection(OUTBOX).insert_many([event.to_document() for event in events])
    return events


def stream_entries(source: Source, stream: str = STREAM) -> list[dict[str, str]]:
    entries = as_stream(source).with_config(StreamConfig(stream=stream)).entries()
    return [fields for _, fields in entries]


def stream_ids(source: Source, stream: str = STREAM) -> list[str]:
    return [fields["event_id"] for fields in stream_entries(source, stream)]


def assert_each_once(source: Source, expected: Iterable[str]) -> None:
    published = stream_ids(source)
    duplicates = sorted({i for i in published if published.count(i) > 1})
    assert not duplicates, f"published more than once: {duplicates[:5]}"
    missing = set(expected) - set(published)
    assert not missing, f"never published: {sorted(missing)[:5]} ({len(missing)} in all)"


def assert_gateway_order(source: Source) -> None:
    """Within each gateway, stream entries have strictly increasing versions."""
    last: dict[str, int] = {}
    for fields in stream_entries(source):
        gateway, version = fields["aggregate_id"], int(fields["version"])
        assert version > last.get(gateway, 0), (
            f"gateway {gateway}: v{version} after v{last[gateway]}"
        )
        last[gateway] = version


def unpublished(store: Store) -> list[dict[str, Any]]:
    return store.collection(OUTBOX).find({"published_at": None})
