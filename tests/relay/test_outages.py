"""Redis going away mid-run: the relay backs off, logs the outage once, and resumes by itself."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from outbox.memory_store import MemoryStore
from outbox.stream import EventStream
from tests.relay.conftest import (
    MakeRelay,
    assert_each_once,
    assert_gateway_order,
    insert_events,
    publisher_for,
    relay_settings,
    unpublished,
)
from tests.relay.test_leadership import wait_until
from tests.support.servers import RedisServer


@pytest.fixture
def event_stream(redis_event_stream: EventStream) -> EventStream:
    """Redis itself: here it is stopped and started."""
    return redis_event_stream


def test_redis_stopped_and_restarted_mid_run_loses_and_doubles_nothing(
    memory_store: MemoryStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    make_relay: MakeRelay,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a running relay with its own client (timeouts short, as in production, only shorter)
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=0.5)
    relay = make_relay(
        memory_store, publisher=publisher_for(client, relay_settings()), batch_size=10
    )
    thread = threading.Thread(target=relay.run)
    thread.start()
    caplog.set_level(logging.DEBUG, logger="relay")
    events = insert_events(memory_store, per_gateway=5, gateways=10)
    try:
        wait_until(lambda: not unpublished(memory_store))

        # When Redis goes away while events keep coming, and comes back
        redis_server.stop()
        events += insert_events(memory_store, per_gateway=5, gateways=10, start=6)
        time.sleep(0.5)  # several retries' worth of outage
        assert len(unpublished(memory_store)) == 50
        redis_server.start()

        # Then the same relay publishes the rest
        wait_until(lambda: not unpublished(memory_store))
    finally:
        relay.stop()
        thread.join(timeout=10)
        client.close()

    assert_each_once(redis_client, [e.id for e in events])
    assert_gateway_order(redis_client)
    # and said so once each way, not once per retry
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert sum("retrying with back-off" in m for m in messages) == 1
    assert sum("Redis reachable again" in m for m in messages) == 1
    retries = [
        r
        for r in caplog.records
        if r.levelno == logging.DEBUG and "still failing" in r.getMessage()
    ]
    assert retries, "it did retry in between"


class FlakyStore(MemoryStore):
    """MongoDB unreachable for a while: the store port raises BackendUnavailable."""

    down = False

    def collection(self, name: str):  # type: ignore[no-untyped-def]
        inner = super().collection(name)
        store = self

        class Guarded:
            def __getattr__(self, attribute: str):  # type: ignore[no-untyped-def]
                method = getattr(inner, attribute)

                def call(*args: object, **kwargs: object) -> object:
                    from outbox.errors import BackendUnavailable

                    if store.down:
                        raise BackendUnavailable("MongoDB at test is unreachable")
                    return method(*args, **kwargs)

                return call

        return Guarded()  # type: ignore[return-value]


def test_mongodb_unreachable_is_ridden_out_the_same_way(
    redis_client: redis.Redis, make_relay: MakeRelay, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore()
    relay = make_relay(store)
    caplog.set_level(logging.INFO, logger="relay")
    store.down = True
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        time.sleep(0.3)
        store.down = False
        events = insert_events(store, per_gateway=3, gateways=3)
        wait_until(lambda: not unpublished(store))
    finally:
        relay.stop()
        thread.join(timeout=10)

    assert_each_once(redis_client, [e.id for e in events])
    messages = [r.getMessage() for r in caplog.records]
    assert sum("MongoDB at test is unreachable; retrying" in m for m in messages) == 1
    assert sum("MongoDB reachable again" in m for m in messages) == 1
