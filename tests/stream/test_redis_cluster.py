"""What only the Redis adapter shows about a Redis Cluster: told apart from a single server on
connecting, every key of a stream in one slot, and the dead letters of older releases moved to
their tagged key without losing or doubling one (on a single server and on a cluster)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from outbox.stream import StreamConfig, StreamUnavailable
from outbox.stream import keys as stream_keys
from outbox.stream.redis.connect import cluster_client
from outbox.stream.redis.stream import RedisStream
from tests.support.redis_cluster import RedisClusterServers, free_cluster_port
from tests.support.servers import RedisServer
from tests.support.stream_harness import STREAM, event

OLD_DLQ = "events:gateway:dlq"
NEW_DLQ = "{events:gateway}:dlq"


def test_a_cluster_url_gets_the_cluster_client_and_the_whole_port_works(
    redis_cluster: RedisClusterServers, redis_cluster_client: RedisCluster
) -> None:
    stream = RedisStream.from_url(redis_cluster.url, StreamConfig(stream=STREAM, consumer="p1"))
    stream.ensure_group()

    [publication] = stream.publish([event("gw_1", 1)], token=1)
    [(entry_id, fields)] = stream.read_new(count=10, block_ms=None)
    stream.dead_letter(entry_id, fields, "why", 1)

    assert cluster_client(stream._redis) is not None
    assert publication.entry_id == entry_id
    status = stream.status()
    assert (status.length, status.dead_letters, status.group and status.group.pending) == (1, 1, 0)
    assert stream.replay(stream.latest_dead_letters(1)[0].id)
    assert [f["event_id"] for _, f in stream.read_new(count=10, block_ms=None)] == [
        fields["event_id"]
    ]


def test_a_single_server_url_gets_the_plain_client(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    stream = RedisStream.from_url(redis_server.url, StreamConfig(stream=STREAM))

    stream.ping()

    assert cluster_client(stream._redis) is None


def test_a_server_down_at_start_is_a_typed_error_at_the_first_call_not_at_construction() -> None:
    stream = RedisStream.from_url(f"redis://127.0.0.1:{free_cluster_port()}/0")

    with pytest.raises(StreamUnavailable):
        stream.ping()


@pytest.mark.parametrize("stream_name", ["events:gateway", "{tenant}:events"])
def test_every_key_of_a_stream_hashes_to_the_streams_slot(
    redis_cluster_client: RedisCluster, stream_name: str
) -> None:
    names = [
        stream_name,
        stream_keys.marks_key(stream_name),
        stream_keys.seeded_key(stream_name),
        stream_keys.fence_key(stream_name),
        StreamConfig(stream=stream_name).dead_letters,
    ]

    assert len({redis_cluster_client.keyslot(name) for name in names}) == 1


# -- dead letters of an older release ----------------------------------------------------------


@pytest.fixture(params=["redis-server", "redis-cluster"])
def client(request: pytest.FixtureRequest) -> Any:
    name = "redis_client" if request.param == "redis-server" else "redis_cluster_client"
    return request.getfixturevalue(name)


def old_dead_letters(client: Any, *gateways: str) -> list[str]:
    """Dead letters as a release before the tagged key wrote them; their ids."""
    return [
        str(client.xadd(OLD_DLQ, {**event(g).stream_fields(), "dlq_reason": "why"}))
        for g in gateways
    ]


def test_old_dead_letters_are_moved_with_their_ids_and_can_be_replayed(client: Any) -> None:
    ids = old_dead_letters(client, "gw_a", "gw_b")
    stream = RedisStream(client, StreamConfig(stream=STREAM))

    listed = stream.latest_dead_letters(10)

    assert [letter.id for letter in listed] == ids[::-1]
    assert client.exists(OLD_DLQ) == 0
    stream.replay(ids[0])
    assert [f["aggregate_id"] for _, f in stream.entries()] == ["gw_a"]


def test_old_and_new_dead_letters_are_all_kept_once(client: Any) -> None:
    old_dead_letters(client, "gw_old")
    client.xadd(NEW_DLQ, {**event("gw_new").stream_fields(), "dlq_reason": "why"})
    stream = RedisStream(client, StreamConfig(stream=STREAM))

    letters = stream.latest_dead_letters(10)

    assert sorted(letter.fields["aggregate_id"] for letter in letters) == ["gw_new", "gw_old"]
    assert stream.dead_letter_count() == 2 and client.exists(OLD_DLQ) == 0


def test_a_move_cut_short_on_a_cluster_is_finished_without_doubling(
    redis_cluster_client: RedisCluster,
) -> None:
    # Given a move that copied the first record and stopped before deleting the original.
    ids = old_dead_letters(redis_cluster_client, "gw_a", "gw_b")
    first = redis_cluster_client.xrange(OLD_DLQ, ids[0], ids[0])[0][1]
    redis_cluster_client.xadd(NEW_DLQ, first, id=ids[0])
    stream = RedisStream(redis_cluster_client, StreamConfig(stream=STREAM))

    # When the next call moves them again, then each is there once.
    assert [letter.id for letter in stream.latest_dead_letters(10)] == ids[::-1]
    assert redis_cluster_client.exists(OLD_DLQ) == 0


def test_a_cluster_node_whose_port_was_taken_meanwhile_moves_to_another_before_creation() -> None:
    cluster = RedisClusterServers(masters=3)
    taken = cluster.ports[0]
    with socket.socket() as squatter:  # another program took the port found free
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        cluster.start()
    try:
        assert taken not in cluster.ports
        client = cluster.client()
        client.set("k", "v")
        assert client.get("k") == "v"
    finally:
        cluster.close()
