"""Recovery from an outage: while MongoDB or Redis is down the relay never waits longer than
OUTBOX_PROBE_INTERVAL, so it publishes again within that interval of the backend coming back;
each outage (not each retry) is counted per backend."""

from __future__ import annotations

import re
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from outbox.domain.clock import as_utc
from outbox.domain.events import OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.stream import EventStream, Publication, StreamUnavailable
from relay.daemon import Relay
from relay.metrics import RelayMetrics
from tests.support.cli import relay_process
from tests.support.relay import (
    insert_events,
    publisher_for,
    relay_settings,
    stream_ids,
    unpublished,
)
from tests.support.servers import NxServer, RedisServer, free_port
from tests.support.store_faults import FlakyStore
from tests.support.waiting import wait_until

PROBE_INTERVAL = 5.0
DOWN_FROM, DOWN_UNTIL = 1.0, 61.0  # a one-minute outage, in fake seconds


class FakeTime:
    """Seconds that pass only when the relay waits; every requested wait is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[tuple[float, float]] = []  # (when, how long)
        self.on_wait: Callable[[], None] = lambda: None

    def monotonic(self) -> float:
        return self.now

    def clock(self) -> datetime:
        return as_utc(datetime(2026, 1, 1, 12, 0) + timedelta(seconds=self.now))

    def wait(self, seconds: float) -> None:
        self.waits.append((self.now, seconds))
        self.now += seconds
        self.on_wait()

    def down(self) -> bool:
        return DOWN_FROM <= self.now < DOWN_UNTIL


class OutageStore(FlakyStore):
    """MongoDB unreachable from DOWN_FROM to DOWN_UNTIL."""

    def __init__(self, fake: FakeTime) -> None:
        super().__init__()
        self._fake = fake
        self.outage = False

    @property  # type: ignore[override]
    def down(self) -> bool:
        return self.outage and self._fake.down()


class OutagePublisher:
    """Redis unreachable from DOWN_FROM to DOWN_UNTIL; notes when publishing resumed."""

    def __init__(self, inner: EventStream, fake: FakeTime) -> None:
        self._inner = inner
        self._fake = fake
        self.outage = False
        self.published_at: list[float] = []

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        if self.outage and self._fake.down():
            raise StreamUnavailable("Redis at test is unreachable")
        self.published_at.append(self._fake.now)
        return self._inner.publish(events, token=token)

    def ping(self) -> None:
        self._inner.ping()


@pytest.mark.parametrize("backend", ["redis", "mongodb"])
def test_while_a_backend_is_down_no_wait_exceeds_the_probe_interval(
    event_stream: EventStream, backend: str
) -> None:
    # Given a relay whose waits are recorded, and a one-minute outage of one backend
    fake = FakeTime()
    settings = relay_settings(probe_interval=PROBE_INTERVAL, lease_seconds=30)
    store = OutageStore(fake)
    publisher = OutagePublisher(publisher_for(event_stream, settings), fake)
    (store if backend == "mongodb" else publisher).outage = True
    relay = Relay(
        store,
        publisher,
        settings,
        clock=fake.clock,
        monotonic=fake.monotonic,
        wait=fake.wait,
        random=lambda: 1.0,  # the longest jitter
    )
    fake.now = DOWN_FROM  # the outage begins as the relay starts; an event is committed in it
    events = insert_events_while_up(store, fake)
    fake.on_wait = lambda: stop_when_published(relay, store, fake)

    # When the relay runs through the outage
    relay.run()

    # Then it never waited longer than the probe interval while the backend was down
    during = [seconds for at, seconds in fake.waits if at < DOWN_UNTIL]
    assert max(during) <= PROBE_INTERVAL
    assert len(during) > 10, "it did retry during the outage"
    # and published within the interval of the backend coming back
    assert DOWN_UNTIL <= publisher.published_at[0] <= DOWN_UNTIL + PROBE_INTERVAL
    assert set(stream_ids(event_stream)) == {e.id for e in events}
    # and counted one outage of that backend, none of the other
    sample = relay.metrics.registry.get_sample_value
    other = "redis" if backend == "mongodb" else "mongodb"
    assert sample("outbox_relay_backend_outages_total", {"backend": backend}) == 1
    assert sample("outbox_relay_backend_outages_total", {"backend": other}) == 0


def insert_events_while_up(store: OutageStore, fake: FakeTime) -> list[OutboxEvent]:
    outage, store.outage = store.outage, False
    events = insert_events(store, per_gateway=2, gateways=3, clock=fake.clock)
    store.outage = outage
    return events


def stop_when_published(relay: Relay, store: MemoryStore, fake: FakeTime) -> None:
    if fake.now >= DOWN_UNTIL + 60:
        relay.stop()  # a safety net: the assertions then say what went wrong
    elif not fake.down() and not unpublished(store):
        relay.stop()


def test_the_outage_counter_shows_both_backends_at_zero_from_the_start() -> None:
    metrics = RelayMetrics()
    sample = metrics.registry.get_sample_value

    assert sample("outbox_relay_backend_outages_total", {"backend": "mongodb"}) == 0
    assert sample("outbox_relay_backend_outages_total", {"backend": "redis"}) == 0


# -- once with processes ------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone: it is stopped and started again."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.mark.slow
def test_a_relay_process_publishes_within_the_probe_interval_of_redis_coming_back(
    relay_nx_server: NxServer, relay_nx_store: MongoStore, own_redis: RedisServer, tmp_path: Path
) -> None:
    # Given a relay process with a 1 s probe interval, publishing
    port = free_port()
    process = relay_process(
        [],
        nx=relay_nx_server,
        store=relay_nx_store,
        redis_server=own_redis,
        tmp_path=tmp_path,
        OUTBOX_PROBE_INTERVAL="1",
        OUTBOX_METRICS_PORT=str(port),
    )
    client = own_redis.client()
    try:
        insert_events(relay_nx_store, per_gateway=1, gateways=1)
        wait_until(lambda: process_alive(process) and xlen(client) == 1, timeout=30)

        # When Redis is down for 2 s (long enough for the back-off to reach its cap), an
        # event is committed meanwhile, and Redis comes back
        own_redis.stop()
        (late,) = insert_events(relay_nx_store, per_gateway=1, gateways=1, start=2)
        wait_until(lambda: outages(port, "redis") == 1, timeout=10)
        time.sleep(2)  # the outage itself, not a wait for something
        own_redis.start()
        back = time.monotonic()

        # Then the event is in the stream within the interval, plus a small margin
        wait_until(lambda: xlen(client) == 2, timeout=10)
        assert time.monotonic() - back <= 1.0 + 1.0
        assert stream_ids(client)[-1] == late.id
        assert outages(port, "redis") == 1 and outages(port, "mongodb") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
        client.close()
    assert process.returncode == 0, err


def process_alive(process: object) -> bool:
    assert process.poll() is None, process.communicate()[1]  # type: ignore[attr-defined]
    return True


def xlen(client: redis.Redis) -> int:
    try:
        return int(client.xlen("events:gateway"))
    except redis.ConnectionError:
        return -1


def outages(port: int, backend: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    found = re.search(rf'outbox_relay_backend_outages_total\{{backend="{backend}"\}} (\S+)', text)
    return float(found.group(1)) if found else -1.0
