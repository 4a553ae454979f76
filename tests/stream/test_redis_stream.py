"""What only the Redis adapter has to show: its keys, its script cache, its error messages."""

from __future__ import annotations

import pytest
import redis

from outbox.errors import InvalidInput
from outbox.stream import StreamConfig, StreamUnavailable
from outbox.stream.redis_stream import RedisStream
from tests.support.servers import RedisServer
from tests.support.stream_harness import STREAM, event


@pytest.fixture
def stream(redis_client: redis.Redis) -> RedisStream:
    return RedisStream(redis_client, StreamConfig(stream=STREAM, dedupe_window=120))


def test_the_dedupe_key_expires_after_the_window(
    stream: RedisStream, redis_client: redis.Redis
) -> None:
    one = event()
    stream.publish([one], token=1)

    assert 110 <= redis_client.ttl(stream.dedupe_key(one.id)) <= 120


def test_nothing_is_remembered_for_a_rejected_event(
    redis_client: redis.Redis,
) -> None:
    stream = RedisStream(redis_client, StreamConfig(stream=STREAM, max_entry_bytes=2048))
    big, follower = event("gw_a", 1, payload={"blob": "x" * 4096}), event("gw_a", 2)

    stream.publish([big, follower], token=1)

    assert not redis_client.exists(stream.dedupe_key(big.id), stream.dedupe_key(follower.id))


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
    assert redis_client.get(f"{STREAM}:fence") == "5"


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
