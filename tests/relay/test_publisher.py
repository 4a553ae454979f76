"""The Redis adapter, against a real private redis-server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from outbox.events import EventType, OutboxEvent
from relay.errors import Fenced, PublishUnavailable
from relay.publisher import RedisPublisher
from tests.relay.conftest import STREAM, stream_entries, stream_ids
from tests.support.servers import RedisServer

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(gateway: str = "gw_1", version: int = 1, **fields: object) -> OutboxEvent:
    return OutboxEvent(
        type=EventType.CREATED, aggregate_id=gateway, version=version, occurred_at=NOW, **fields
    )


@pytest.fixture
def publisher(redis_client: redis.Redis) -> RedisPublisher:
    return RedisPublisher(redis_client, stream=STREAM, dedupe_window=3600, maxlen=0)


def test_a_batch_lands_in_the_stream_in_order_with_the_contract_fields(
    publisher: RedisPublisher, redis_client: redis.Redis
) -> None:
    events = [event("gw_1", 1, payload={"image": "nginx:1.27"}), event("gw_2", 1), event("gw_1", 2)]

    outcomes = publisher.publish(events, token=1)

    assert [o.published and not o.duplicate for o in outcomes] == [True, True, True]
    entries = stream_entries(redis_client)
    assert [e["event_id"] for e in entries] == [e.id for e in events]
    assert entries[0] == {
        "event_id": events[0].id,
        "type": "GatewayCreated",
        "aggregate_type": "gateway",
        "aggregate_id": "gw_1",
        "version": "1",
        "occurred_at": "2026-01-01T12:00:00Z",
        "payload": '{"image":"nginx:1.27"}',
    }


def test_publishing_an_event_again_adds_no_second_entry(
    publisher: RedisPublisher, redis_client: redis.Redis
) -> None:
    first, second = event("gw_1", 1), event("gw_1", 2)
    [before] = publisher.publish([first], token=1)

    outcomes = publisher.publish([first, second], token=1)

    assert before.entry_id and outcomes[0].duplicate
    assert not outcomes[1].duplicate
    assert stream_ids(redis_client) == [first.id, second.id]


def test_a_rejected_event_is_not_overtaken_by_the_next_one_of_its_gateway(
    redis_client: redis.Redis,
) -> None:
    publisher = RedisPublisher(
        redis_client, stream=STREAM, dedupe_window=3600, maxlen=0, max_entry_bytes=2048
    )
    a1, b1, a2 = event("gw_a", 1, payload={"blob": "x" * 4096}), event("gw_b", 1), event("gw_a", 2)

    rejected, other, follower = publisher.publish([a1, b1, a2], token=1)

    assert rejected.error is not None and rejected.error.startswith("TOOLARGE")
    assert other.published
    assert follower.held and not follower.published
    assert stream_ids(redis_client) == [b1.id]
    # Nothing recorded for the two that did not go: a later attempt may publish them.
    assert not redis_client.exists(publisher.dedupe_key(a1.id), publisher.dedupe_key(a2.id))


def test_the_dedupe_key_expires_after_the_window(redis_client: redis.Redis) -> None:
    publisher = RedisPublisher(redis_client, stream=STREAM, dedupe_window=120, maxlen=0)
    one = event()
    publisher.publish([one], token=1)

    assert 110 <= redis_client.ttl(publisher.dedupe_key(one.id)) <= 120


def test_a_relay_with_an_older_lease_token_is_refused_once_a_newer_one_published(
    publisher: RedisPublisher, redis_client: redis.Redis
) -> None:
    publisher.publish([event("gw_1", 1)], token=7)

    with pytest.raises(Fenced):
        publisher.publish([event("gw_1", 2)], token=6)
    assert len(stream_ids(redis_client)) == 1


def test_the_stream_is_trimmed_approximately_to_maxlen(redis_client: redis.Redis) -> None:
    publisher = RedisPublisher(redis_client, stream=STREAM, dedupe_window=3600, maxlen=100)

    for start in range(0, 1000, 250):
        publisher.publish([event("gw_1", v) for v in range(start + 1, start + 251)], token=1)

    # `~` trims whole macro nodes (100 entries each by default): close to maxlen, never below.
    assert 100 <= redis_client.xlen(STREAM) < 300


def test_a_flushed_script_cache_is_reloaded_without_losing_or_doubling(
    publisher: RedisPublisher, redis_client: redis.Redis
) -> None:
    publisher.publish([event("gw_1", 1)], token=1)
    redis_client.script_flush()

    publisher.publish([event("gw_1", 2)], token=1)

    assert len(stream_ids(redis_client)) == 2


def test_redis_down_is_a_typed_error_and_redis_back_is_used_again(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=1)
    publisher = RedisPublisher(client, stream=STREAM, dedupe_window=3600, maxlen=0)
    redis_server.stop()
    try:
        with pytest.raises(PublishUnavailable, match="unreachable"):
            publisher.publish([event("gw_1", 1)], token=1)
        with pytest.raises(PublishUnavailable):
            publisher.ping()
    finally:
        redis_server.start()

    [outcome] = publisher.publish([event("gw_1", 2)], token=1)
    assert outcome.published and outcome.entry_id
