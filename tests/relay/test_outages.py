"""A backend going away mid-run: the relay backs off, logs the outage once, and resumes by itself.

Redis is a private redis-server that the test stops and starts again; time is a fake clock and
the relay is driven turn by turn (`run_once()`), each turn saying how long it would wait.
"""

from __future__ import annotations

import logging

import pytest
import redis

from outbox.store.memory.store import MemoryStore
from outbox.store.port import Store
from outbox.stream import EventStream
from relay.daemon import Relay
from tests.support.clock import FakeClock
from tests.support.relay import (
    assert_each_once,
    assert_gateway_order,
    insert_events,
    publisher_for,
    relay_settings,
    unpublished,
)
from tests.support.servers import RedisServer
from tests.support.store_faults import FlakyStore

PROBE_INTERVAL = 1.0


def fake_time_relay(store: Store, publisher: EventStream, clock: FakeClock) -> Relay:
    """A relay on the fake clock whose jitter is always the longest, so waits are exact."""
    return Relay(
        store,
        publisher,
        relay_settings(probe_interval=PROBE_INTERVAL, batch_size=10),
        clock=clock,
        monotonic=lambda: clock().timestamp(),
        random=lambda: 1.0,
    )


def turns(relay: Relay, clock: FakeClock, count: int) -> list[float]:
    """`count` turns, fake time passing by each turn's wait; the waits."""
    waits = []
    for _ in range(count):
        waits.append(relay.run_once().wait)
        clock.advance(waits[-1])
    return waits


def until_published(relay: Relay, store: Store, clock: FakeClock) -> None:
    for _ in range(100):
        if not unpublished(store):
            return
        clock.advance(relay.run_once().wait)
    raise AssertionError("the relay never published everything")


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


@pytest.fixture
def event_stream(redis_event_stream: EventStream) -> EventStream:
    """Redis itself: here it is stopped and started (the MongoDB outages need only the stand-in)."""
    return redis_event_stream


def test_redis_stopped_and_restarted_mid_run_loses_and_doubles_nothing(
    memory_store: MemoryStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a relay with its own client (timeouts short, as in production, only shorter)
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=0.5)
    relay = fake_time_relay(memory_store, publisher_for(client, relay_settings()), clock)
    caplog.set_level(logging.DEBUG, logger="relay")
    events = insert_events(memory_store, per_gateway=5, gateways=10, clock=clock)
    try:
        until_published(relay, memory_store, clock)

        # When Redis goes away while events keep coming, and comes back
        redis_server.stop()
        events += insert_events(memory_store, per_gateway=5, gateways=10, start=6, clock=clock)
        waits = turns(relay, clock, 8)
        assert len(unpublished(memory_store)) == 50
        redis_server.start()

        # Then the same relay publishes the rest
        until_published(relay, memory_store, clock)
    finally:
        client.close()

    assert_each_once(redis_client, [e.id for e in events])
    assert_gateway_order(redis_client)
    # backing off, doubling from 0.1 s up to the probe interval
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])
    # and said so once each way, not once per retry
    assert sum("Redis unavailable" in m for m in messages(caplog)) == 1
    assert sum("retrying with back-off" in m for m in messages(caplog)) == 1
    assert sum("Redis reachable again after 8 failed attempts" in m for m in messages(caplog)) == 1
    retries = [m for m in messages(caplog, logging.DEBUG) if "still unavailable" in m]
    assert len(retries) == 7, "it did retry in between, quietly"
    sample = relay.metrics.registry.get_sample_value
    assert sample("outbox_relay_backend_outages_total", {"backend": "redis"}) == 1
    assert sample("outbox_relay_backend_outages_total", {"backend": "mongodb"}) == 0


def test_mongodb_unreachable_is_ridden_out_the_same_way(
    memory_event_stream: EventStream, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore()
    relay = fake_time_relay(store, publisher_for(memory_event_stream, relay_settings()), clock)
    caplog.set_level(logging.INFO, logger="relay")
    store.down = True

    waits = turns(relay, clock, 6)
    store.down = False
    events = insert_events(store, per_gateway=3, gateways=3, clock=clock)
    until_published(relay, store, clock)

    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert_each_once(memory_event_stream, [e.id for e in events])
    logged = messages(caplog)
    assert sum("MongoDB unavailable (MongoDB at test is unreachable)" in m for m in logged) == 1
    assert sum("MongoDB reachable again" in m for m in logged) == 1
    sample = relay.metrics.registry.get_sample_value
    assert sample("outbox_relay_backend_outages_total", {"backend": "mongodb"}) == 1


def test_the_back_off_starts_over_after_the_backend_came_back(
    memory_event_stream: EventStream, clock: FakeClock
) -> None:
    store = FlakyStore()
    relay = fake_time_relay(store, publisher_for(memory_event_stream, relay_settings()), clock)
    store.down = True
    turns(relay, clock, 5)
    store.down = False
    assert relay.run_once().wait < 0.1, "back to polling"

    store.down = True

    assert turns(relay, clock, 2) == pytest.approx([0.1, 0.2])
    sample = relay.metrics.registry.get_sample_value
    assert sample("outbox_relay_backend_outages_total", {"backend": "mongodb"}) == 2
