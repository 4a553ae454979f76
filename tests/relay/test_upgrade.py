"""Upgrading from the release with per-event dedupe keys: the marks are seeded from the stream,
the old keys and the outbox before anything is published, and nothing goes out twice."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from outbox.domain.events import STREAM_FIELDS, OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.port import LEASES, OUTBOX
from outbox.stream import PublishedRecord, StreamConfig, StreamUnavailable
from outbox.stream.redis.stream import RedisStream
from tests.support.relay import (
    STREAM,
    MakeRelay,
    assert_each_once,
    assert_gateway_order,
    insert_events,
)

OLD_TOKEN = 3


def published_by_the_old_release(client: redis.Redis, event: OutboxEvent) -> None:
    """What the publish script before the marks did for one event: SET NX EX its dedupe key,
    XADD it, and keep the fence under `<stream>:fence`."""
    client.set(f"{STREAM}:fence", OLD_TOKEN)
    client.set(f"{STREAM}:dedupe:{event.id}", "1", nx=True, ex=604_800)
    fields = event.stream_fields()
    client.xadd(STREAM, {name: fields[name] for name in STREAM_FIELDS})


def an_upgraded_deployment(client: redis.Redis) -> tuple[MemoryStore, list[OutboxEvent]]:
    """Three gateways, four versions each. The old release published v1 and v2 of every
    gateway and v3 of gw_0002; the outbox recorded only v1 (it died before marking the rest);
    gw_0002 v3's entry was trimmed away since, so only its dedupe key remembers it."""
    store = MemoryStore()
    events = insert_events(store, per_gateway=4, gateways=3)
    by_key = {(e.aggregate_id, e.version): e for e in events}
    for version in (1, 2):
        for gateway in range(3):
            published_by_the_old_release(client, by_key[(f"gw_{gateway:04d}", version)])
    published_by_the_old_release(client, by_key[("gw_0002", 3)])
    client.xdel(STREAM, client.xrevrange(STREAM, count=1)[0][0])
    marked = [e.id for e in events if e.version == 1]
    store.collection(OUTBOX).update_many(
        {"_id": {"$in": marked}}, {"$set": {"published_at": datetime.now(UTC)}}
    )
    # The old relays' lease: the new relay takes over with the next token.
    store.collection(LEASES).insert_one(
        {
            "_id": f"relay:{STREAM}",
            "owner": "old-relay",
            "token": OLD_TOKEN,
            "expires_at": datetime(2020, 1, 1, tzinfo=UTC),
        }
    )
    return store, events


def still_in_the_stream(events: list[OutboxEvent]) -> list[str]:
    return [e.id for e in events if (e.aggregate_id, e.version) != ("gw_0002", 3)]


def test_the_new_relay_publishes_what_the_old_one_had_not_and_nothing_twice(
    redis_client: redis.Redis, make_relay: MakeRelay
) -> None:
    store, events = an_upgraded_deployment(redis_client)
    stream = RedisStream(redis_client, StreamConfig(stream=STREAM))

    totals = make_relay(store, publisher=stream).drain(lease_wait=1)

    assert_each_once(redis_client, still_in_the_stream(events))
    assert_gateway_order(redis_client)
    versions = [(f["aggregate_id"], f["version"]) for _, f in stream.entries()]
    assert versions.count(("gw_0002", "3")) == 0  # trimmed, and remembered by its key alone
    # v2 of each gateway and gw_0002 v3 were in Redis already; v3 and v4 of the rest were not.
    assert (totals.published, totals.duplicates) == (5, 4)
    assert len(versions) == 11
    assert stream.marks(["gw_0000", "gw_0001", "gw_0002"]) == dict.fromkeys(
        ["gw_0000", "gw_0001", "gw_0002"], 4
    )
    assert store.collection(OUTBOX).count_documents({"published_at": None}) == 0


def test_the_old_releases_relays_are_fenced_off_by_the_upgrade(
    redis_client: redis.Redis, make_relay: MakeRelay
) -> None:
    store, _ = an_upgraded_deployment(redis_client)
    stream = RedisStream(redis_client, StreamConfig(stream=STREAM))

    make_relay(store, publisher=stream).drain(lease_wait=1)

    # The old script refuses any relay whose token is below its key: now the new relay's.
    new_token = int(redis_client.get("{events:gateway}:fence"))
    assert new_token > OLD_TOKEN
    assert int(redis_client.get(f"{STREAM}:fence")) == new_token


class FailsWhileSeeding(RedisStream):
    """Redis goes away just as the relay reads what the stream holds, once."""

    failed = False

    def published_record(self, *, token: int) -> PublishedRecord:
        if not self.failed:
            self.failed = True
            raise StreamUnavailable("Redis is unreachable: injected while seeding")
        return super().published_record(token=token)


def test_an_outage_while_seeding_is_ridden_out_and_still_publishes_nothing_twice(
    redis_client: redis.Redis, make_relay: MakeRelay
) -> None:
    store, events = an_upgraded_deployment(redis_client)
    stream = FailsWhileSeeding(redis_client, StreamConfig(stream=STREAM))
    relay = make_relay(store, publisher=stream)

    first = relay.run_once()
    assert first.wait > 0 and len(stream.entries()) == 6  # nothing published meanwhile
    for _ in range(3):
        relay.run_once()

    assert stream.failed
    assert_each_once(redis_client, still_in_the_stream(events))
    assert_gateway_order(redis_client)
