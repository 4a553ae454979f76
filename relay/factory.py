"""Builds a relay from its settings, a store and a Redis client (for the command line and tests)."""

from __future__ import annotations

from typing import Any

import redis

from outbox.clock import Clock, utcnow
from outbox.store import Store
from relay.daemon import Relay
from relay.publisher import RedisPublisher
from relay.settings import RelaySettings
from relay.wakeup import ChangeStreamWakeup


def build_relay(
    settings: RelaySettings,
    *,
    store: Store,
    redis_client: redis.Redis[Any],
    clock: Clock = utcnow,
    change_streams: bool = True,
) -> Relay:
    publisher = RedisPublisher(
        redis_client,
        stream=settings.stream,
        dedupe_window=settings.dedupe_window,
        maxlen=settings.stream_maxlen,
        max_entry_bytes=settings.max_entry_bytes,
    )
    wakeup = ChangeStreamWakeup.when_supported(store) if change_streams else None
    return Relay(store, publisher, settings, wakeup=wakeup, clock=clock)
