"""The Redis keys of the partitions: one hash tag per partition, shared with its companions, so
each partition's stream, marks, fence and dead letters live in one slot of a Redis Cluster and
the partitions spread over its masters."""

from __future__ import annotations

from redis.cluster import RedisCluster

from outbox.stream import StreamConfig, keys
from outbox.stream.redis.stream import RedisStream
from tests.support.redis_cluster import RedisClusterServers
from tests.support.stream_harness import event


def test_each_partition_is_its_own_tagged_stream_and_its_companions_share_the_tag() -> None:
    assert keys.partition_streams("events:gateway", 3) == [
        "{events:gateway:0}",
        "{events:gateway:1}",
        "{events:gateway:2}",
    ]
    stream = keys.partition_stream("events:gateway", 3)
    assert keys.marks_key(stream) == "{events:gateway:3}:hwm"
    assert keys.fence_key(stream) == "{events:gateway:3}:fence"
    assert keys.dead_letters_key(stream) == "{events:gateway:3}:dlq"
    assert StreamConfig(stream=stream).dead_letters == "{events:gateway:3}:dlq"


def test_a_stream_name_with_its_own_tag_keeps_it_for_every_partition() -> None:
    assert keys.partition_stream("{tenant}:events", 5) == "{tenant}:events:5"
    assert keys.hash_tag(keys.marks_key("{tenant}:events:5")) == "tenant"


def test_on_a_cluster_each_partition_publishes_and_dead_letters_in_one_slot_across_masters(
    redis_cluster: RedisClusterServers, redis_cluster_client: RedisCluster
) -> None:
    streams = keys.partition_streams("events:gateway", 8)
    for number, name in enumerate(streams):
        stream = RedisStream.from_url(redis_cluster.url, StreamConfig(stream=name, consumer="p"))
        stream.ensure_group()
        # The publish script touches the stream, its marks and its fence: one slot, or CROSSSLOT.
        [publication] = stream.publish([event(f"gw_{number}", 1)], token=7)
        [(entry_id, fields)] = stream.read_new(count=10, block_ms=None)
        stream.dead_letter(entry_id, fields, "why", 1)
        assert publication.published and stream.dead_letter_count() == 1
        slots = {redis_cluster_client.keyslot(key) for key in _companions(name)}
        assert len(slots) == 1, name
    nodes = {
        redis_cluster_client.get_node_from_key(name).name  # type: ignore[union-attr]
        for name in streams
    }
    assert len(nodes) > 1  # the partitions do not all land on one master


def _companions(stream: str) -> list[str]:
    return [
        stream,
        keys.marks_key(stream),
        keys.seeded_key(stream),
        keys.fence_key(stream),
        keys.dead_letters_key(stream),
    ]
