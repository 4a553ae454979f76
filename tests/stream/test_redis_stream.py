"""What only the Redis adapter has to show: its keys, its script cache, its error messages."""

from __future__ import annotations

import pytest
import redis

from outbox.domain.errors import InvalidInput
from outbox.stream import StreamConfig, StreamUnavailable
from outbox.stream.redis.stream import RedisStream
from tests.support.servers import RedisServer
from tests.support.stream_harness import STREAM, event


@pytest.fixture
def stream(redis_client: redis.Redis) -> RedisStream:
    return RedisStream(redis_client, StreamConfig(stream=STREAM))


def test_publishing_keeps_one_mark_per_gateway_and_nothing_that_expires(
    stream: RedisStream, redis_client: redis.Redis
) -> None:
    stream.publish([event(f"gw_{n % 3}", n // 3 + 1) for n in range(30)], token=1)

    marks = redis_client.hgetall("{events:gateway}:hwm")
    assert marks == {"gw_0": "10", "gw_1": "10", "gw_2": "10"}
    assert all(redis_client.ttl(key) == -1 for key in redis_client.keys("*"))


def test_a_flushed_script_cache_is_reloaded_without_losing_or_doubling(
    stream: RedisStream, redis_client: redis.Redis
) -> None:
    stream.publish([event("gw_1", 1)], token=1)
    redis_client.script_flush()

    stream.publish([event("gw_1", 2)], token=1)

    assert len(stream.entries()) == 2


def test_fencing_is_kept_in_redis_so_every_relay_sees_it(
    stream: RedisStream, redis_client: redis.Redis
) -> None:
    stream.publish([event("gw_1", 1)], token=5)
    assert redis_client.get("{events:gateway}:fence") == "5"


def test_redis_down_is_unreachable_for_publish_and_ping_and_redis_back_is_used_again(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1, socket_connect_timeout=1)
    stream = RedisStream(client, StreamConfig(stream=STREAM))
    redis_server.stop()
    try:
        with pytest.raises(StreamUnavailable, match="unreachable"):
            stream.publish([event("gw_1", 1)], token=1)
        with pytest.raises(StreamUnavailable, match="unreachable"):
            stream.ping()
    finally:
        redis_server.start()

    [publication] = stream.publish([event("gw_1", 2)], token=1)
    assert publication.published and publication.entry_id


def test_a_wrong_type_under_the_stream_key_is_a_refused_command(
    redis_client: redis.Redis,
) -> None:
    redis_client.set(STREAM, "not a stream")
    stream = RedisStream(redis_client, StreamConfig(stream=STREAM))

    with pytest.raises(StreamUnavailable, match="Redis refused a command: WRONGTYPE"):
        stream.read_new(count=1, block_ms=None)


def test_a_url_that_is_not_redis_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="OUTBOX_REDIS_URL"):
        RedisStream.from_url("http://example.com")
