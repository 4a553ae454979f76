"""Upgrading a deployment without a partition count: the relay now runs it as one partition on
the code that runs P of them, and finds everything where the release before it left it.

What that release leaves is written here as literals, as it wrote them (read off a run of it
against a private redis-server): the stream `events:gateway` itself (OUTBOX_STREAM, no
`{events:gateway:0}`), the high-water marks `{events:gateway}:hwm` with their seeded flag
`{events:gateway}:hwm-seeded`, the fence `{events:gateway}:fence` holding the lease token, and
the lease document `relay:events:gateway` in `leases`. Its writer stamped `partition: 0` on
events; the releases before partitions stamped none. The last test runs the `--once` rule of
the same code where partitions are recorded: every partition's lease, or exit 4 naming them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from outbox.domain.errors import Conflict
from outbox.store.memory.store import MemoryStore
from outbox.store.port import LEASES, OUTBOX
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream
from outbox_cli.app import App
from outbox_cli.status_cmd import collect, render
from relay.daemon import Relay
from relay.factory import build_relay
from tests.support.clock import FakeClock
from tests.support.partitions import record_partitions
from tests.support.relay import relay_settings
from tests.support.servers import RedisServer

STREAM = "events:gateway"
KEYS = {"events:gateway", "{events:gateway}:hwm", "{events:gateway}:hwm-seeded"}
FENCE = "{events:gateway}:fence"
LEASE_ID = "relay:events:gateway"
OLD_TOKEN = 1767268795000  # taken at 11:59:55 by the old relay
NEW_TOKEN = 1767268805000  # the takeover at 12:00:05, in milliseconds
NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# (event id, gateway, version, published by the old relay, marked published in the outbox)
EVENTS = [
    ("ev_a1", "gw_a", 1, True, True),
    ("ev_b1", "gw_b", 1, True, True),
    ("ev_c1", "gw_c", 1, True, True),
    ("ev_a2", "gw_a", 2, True, True),
    ("ev_b2", "gw_b", 2, True, False),  # it died between the XADD and the marking
    ("ev_a3", "gw_a", 3, False, False),
    ("ev_b3", "gw_b", 3, False, False),
    ("ev_c2", "gw_c", 2, False, False),
]
UNPARTITIONED = {"gw_c"}  # written by a release before partitions: no `partition` field


def committed_at(n: int) -> datetime:
    """The nth event's commit time: a second apart, the last a little before noon."""
    return NOON - timedelta(seconds=60 - n)


def outbox_document(n: int) -> dict[str, Any]:
    event_id, gateway, version, _, marked = EVENTS[n]
    document: dict[str, Any] = {
        "_id": event_id,
        "type": "GatewayCreated" if version == 1 else "GatewayStopRequested",
        "aggregate_type": "gateway",
        "aggregate_id": gateway,
        "version": version,
        "payload": {"state": "Stopped"},
        "occurred_at": committed_at(n),
        "published_at": committed_at(n) if marked else None,
        "attempts": 0,
        "last_error": None,
        "parked": False,
        "actor": "python:root@vm",
        "traceparent": None,
        "tracestate": None,
    }
    if gateway not in UNPARTITIONED:
        document["partition"] = 0
    return document


def stream_entry(n: int) -> dict[str, str]:
    """The entry the old relay added for the nth event."""
    event_id, gateway, version, _, _ = EVENTS[n]
    return {
        "event_id": event_id,
        "type": "GatewayCreated" if version == 1 else "GatewayStopRequested",
        "aggregate_type": "gateway",
        "aggregate_id": gateway,
        "version": str(version),
        "occurred_at": committed_at(n).isoformat().replace("+00:00", "Z"),
        "payload": '{"state":"Stopped"}',
        "actor": "python:root@vm",
    }


def left_by_the_old_release(client: redis.Redis) -> MemoryStore:
    """The store and Redis as the release before partitions leaves them, its relay still
    holding the lease (renewed at noon) as the new one starts."""
    store = MemoryStore()
    store.collection(OUTBOX).insert_many([outbox_document(n) for n in range(len(EVENTS))])
    for n, (_, gateway, version, published, _) in enumerate(EVENTS):
        if published:
            client.xadd(STREAM, stream_entry(n))
            client.hset("{events:gateway}:hwm", gateway, version)
    client.set("{events:gateway}:hwm-seeded", "1")
    client.set(FENCE, OLD_TOKEN)
    store.collection(LEASES).insert_one(
        {
            "_id": LEASE_ID,
            "owner": "relay-old",
            "token": OLD_TOKEN,
            "expires_at": datetime(2026, 1, 1, 12, 0, 5),
        }
    )
    return store


def new_relay(store: MemoryStore, client: redis.Redis, clock: FakeClock, name: str) -> Relay:
    settings = relay_settings(relay_id=name)
    return build_relay(
        settings, store=store, stream=RedisStream(client), clock=clock, change_streams=False
    )


def status_sections(store: MemoryStore, url: str, now: datetime) -> list[str]:
    """The OUTBOX and STREAM sections of `outbox status` (the gateways' follow)."""
    app = App(overrides={"redis_url": url, "stream": STREAM})
    app._store = store
    text = render(collect(app, now=now))
    return text.split("\n\nGATEWAYS")[0].splitlines()


def stream_lines(client: redis.Redis, url: str, length: int) -> list[str]:
    last = client.xrevrange(STREAM, count=1)[0][0]
    return [
        f"STREAM  events:gateway at {url}",
        f"  length        {length} entries, last {last}",
        "  group         none yet (no provisioner has joined)",
        "  dead letters  0 in {events:gateway}:dlq",
    ]


def assert_each_event_once_in_order(client: redis.Redis) -> None:
    published = [fields["event_id"] for _, fields in client.xrange(STREAM)]
    assert sorted(published) == sorted(row[0] for row in EVENTS), "each once, none skipped"
    versions: dict[str, list[int]] = {}
    for _, fields in client.xrange(STREAM):
        versions.setdefault(fields["aggregate_id"], []).append(int(fields["version"]))
    assert all(v == sorted(v) for v in versions.values()), versions


def test_the_new_relay_stands_by_takes_over_and_publishes_the_rest_once_on_the_old_keys(
    redis_client: redis.Redis,
    redis_server: RedisServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given what the old release left, its relay still holding the lease until 12:00:05
    store = left_by_the_old_release(redis_client)
    relay = new_relay(store, redis_client, clock, "relay-new")
    assert status_sections(store, redis_server.url, clock())[3:4] == [
        "  relay lease   relay:events:gateway: held by relay-old (token 1767268795000), "
        "expires 2026-01-01 12:00:05Z (in 5.0s)"
    ]

    # When the new relay starts while the old one still holds the lease, it stands by
    with caplog.at_level(logging.INFO, logger="relay"):
        assert not relay.run_once().leader
    assert [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()] == [
        "lease relay:events:gateway is held by relay relay-old until 2026-01-01 12:00:05 UTC: "
        "standing by"
    ]
    assert redis_client.xlen(STREAM) == 5

    # and once the old relay is gone and its lease has run out, it takes the same lease over
    clock.advance(5)
    result = relay.run_once()

    # Then what the old relay had not published goes out once, what it had is only marked
    assert (result.leader, result.published, result.duplicates) == (True, 3, 1)
    assert_each_event_once_in_order(redis_client)
    # on the same keys: no partition stream, no second fence, no second lease
    assert set(redis_client.keys("*")) == {*KEYS, FENCE}
    assert redis_client.get(FENCE) == str(NEW_TOKEN)
    assert redis_client.hgetall("{events:gateway}:hwm") == {"gw_a": "3", "gw_b": "3", "gw_c": "2"}
    assert store.collection(LEASES).find({}) == [
        {
            "_id": LEASE_ID,
            "owner": "relay-new",
            "token": NEW_TOKEN,
            "expires_at": datetime(2026, 1, 1, 12, 0, 10),
        }
    ]
    documents = store.collection(OUTBOX).find({})
    assert all(d["published_at"] is not None and not d["parked"] for d in documents)
    assert {d["aggregate_id"] for d in documents if "partition" not in d} == UNPARTITIONED
    # with the metrics of before (no partition series) and the status text of before
    sample = relay.metrics.registry.get_sample_value
    assert (sample("outbox_relay_lease_holder"), sample("outbox_relay_lease_token")) == (
        1,
        NEW_TOKEN,
    )
    series = [s for metric in relay.metrics.registry.collect() for s in metric.samples]
    assert not [s for s in series if "partition" in s.labels]
    assert status_sections(store, redis_server.url, clock()) == [
        "OUTBOX  in-memory store (database outbox)",
        "  backlog       0 unpublished",
        "  parked        0",
        "  relay lease   relay:events:gateway: held by relay-new (token 1767268805000), "
        "expires 2026-01-01 12:00:10Z (in 5.0s)",
        "",
        *stream_lines(redis_client, redis_server.url, length=8),
    ]
    # and a second new relay stands by behind the first, as one did behind the old release's
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="relay"):
        assert not new_relay(store, redis_client, clock, "relay-b").run_once().leader
    assert [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()] == [
        "lease relay:events:gateway is held by relay relay-new until 2026-01-01 12:00:10 UTC: "
        "standing by"
    ]


def test_once_waits_for_the_old_lease_then_drains_and_hands_the_lease_back(
    redis_client: redis.Redis, redis_server: RedisServer, clock: FakeClock
) -> None:
    store = left_by_the_old_release(redis_client)

    # While the old relay holds the lease, `--once` gives up naming it (exit 4)
    with pytest.raises(Conflict) as refused:
        new_relay(store, redis_client, clock, "relay-new").drain(lease_wait=0)
    assert str(refused.value) == (
        "lease relay:events:gateway is held by relay relay-old until 2026-01-01 12:00:05 UTC"
    )
    assert redis_client.xlen(STREAM) == 5

    # Once it has run out, `--once` publishes the rest and releases the lease
    clock.advance(5)
    totals = new_relay(store, redis_client, clock, "relay-new").drain(lease_wait=1)

    assert (totals.published, totals.duplicates) == (3, 1)
    assert_each_event_once_in_order(redis_client)
    assert set(redis_client.keys("*")) == {*KEYS, FENCE}
    assert store.collection(LEASES).find({}) == [
        {
            "_id": LEASE_ID,
            "owner": None,
            "token": NEW_TOKEN,
            "expires_at": clock().replace(tzinfo=None),
        }
    ]
    assert status_sections(store, redis_server.url, clock()) == [
        "OUTBOX  in-memory store (database outbox)",
        "  backlog       0 unpublished",
        "  parked        0",
        "  relay lease   relay:events:gateway: free (last token 1767268805000)",
        "",
        *stream_lines(redis_client, redis_server.url, length=8),
    ]


# -- the same code with recorded partitions ------------------------------------------------------


def test_with_recorded_partitions_once_names_the_leases_another_relay_keeps_and_hands_back(
    clock: FakeClock,
) -> None:
    # Given four recorded partitions shared by two relays, two each
    store = MemoryStore()
    record_partitions(store, 4)
    stream = MemoryStream(StreamConfig(stream=STREAM))
    settings = {"lease_seconds": 4.0, "batch_size": 50}
    a, b = (
        build_relay(
            relay_settings(relay_id=name, **settings),
            store=store,
            stream=stream,
            clock=clock,
            change_streams=False,
        )
        for name in ("relay-a", "relay-b")
    )
    for _ in range(16):
        a.run_once()
        b.run_once()
        clock.advance(0.5)
    kept = sorted(b.lease.owned())
    assert len(kept) == 2 and len(a.lease.owned()) == 2

    # When relay-a is asked for `--once`, which takes every partition
    with pytest.raises(Conflict) as refused:
        a.drain(lease_wait=0)

    # Then it names the partitions relay-b keeps (exit 4), and hands back those it held
    held = {d["_id"]: d["expires_at"] for d in store.collection(LEASES).find({"owner": "relay-b"})}
    assert sorted(held) == [f"relay:{{events:gateway:{n}}}" for n in kept]
    assert str(refused.value) == "; ".join(
        f"lease {name} is held by relay relay-b until {until:%Y-%m-%d %H:%M:%S} UTC"
        for name, until in sorted(held.items())
    )
    assert not store.collection(LEASES).find({"owner": "relay-a"})
