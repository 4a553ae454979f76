"""Relay test fixtures: relays wired to a stream, and a MongoDB of their own.

The relays publish to the in-memory stream (`event_stream`); a module that needs Redis itself
(faults on the wire) overrides `event_stream` with `redis_event_stream`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
import redis

from outbox.domain.clock import Clock, utcnow
from outbox.store.mongo.store import MongoStore
from outbox.store.port import Store
from outbox.stream import EventStream, StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream
from relay.daemon import Relay
from relay.outbox_reader import OutboxReader
from tests.support.relay import STREAM, MakeRelay, publisher_for, relay_settings
from tests.support.servers import NxServer


@pytest.fixture
def memory_event_stream() -> EventStream:
    return MemoryStream(StreamConfig(stream=STREAM))


@pytest.fixture
def event_stream(memory_event_stream: EventStream) -> EventStream:
    """The stream the relays publish to: the stand-in, unless a module needs Redis itself."""
    return memory_event_stream


@pytest.fixture
def redis_event_stream(redis_client: redis.Redis) -> EventStream:
    return RedisStream(redis_client, StreamConfig(stream=STREAM))


@pytest.fixture(scope="session")
def relay_nx_server() -> Iterator[NxServer]:
    server = NxServer().start()
    yield server
    server.close()


@pytest.fixture
def relay_nx_store(relay_nx_server: NxServer) -> Iterator[MongoStore]:
    """A MongoStore over the wire on nx-27017, in a database that is really its own."""
    store = MongoStore(relay_nx_server.uri, database=f"r{uuid4().hex[:12]}", timeout_seconds=5)
    store.ensure_indexes(retention_seconds=0)
    yield store
    store.close()


@pytest.fixture
def make_relay(event_stream: EventStream) -> MakeRelay:
    """`make_relay(store, relay_id=…, publisher=…, reader=…, clock=…, **settings)`."""

    def make(
        store: Store,
        *,
        publisher: EventStream | None = None,
        reader: OutboxReader | None = None,
        clock: Clock = utcnow,
        **overrides: Any,
    ) -> Relay:
        settings = relay_settings(**overrides)
        return Relay(
            store,
            publisher or publisher_for(event_stream, settings),
            settings,
            reader=reader,
            clock=clock,
            # The loop's own timers (stats, purges) follow the same clock, fake or not.
            monotonic=lambda: clock().timestamp(),
        )

    return make
