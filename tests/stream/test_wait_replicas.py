"""OUTBOX_REDIS_WAIT_REPLICAS on a cluster with one replica per master: a publish returns once the
replica of the stream's master holds it, and a replica that does not answer in time is a clear,
typed error after which publishing the batch again adds nothing twice."""

from __future__ import annotations

import pytest
import redis

from outbox.stream import StreamConfig
from outbox.stream.errors import ReplicasBehind
from outbox.stream.redis.stream import RedisStream
from tests.support.redis_cluster import RedisClusterServers
from tests.support.stream_harness import STREAM, event


@pytest.fixture
def cluster(replicated_cluster: RedisClusterServers) -> RedisClusterServers:
    client = replicated_cluster.client()
    client.flushall()
    client.close()
    return replicated_cluster


def stream(cluster: RedisClusterServers, **config: int) -> RedisStream:
    return RedisStream.from_url(cluster.url, StreamConfig(stream=STREAM, **config))


def replica_length(cluster: RedisClusterServers) -> int:
    # READONLY lets a replica answer reads of its master's slots, on this one connection.
    replica = redis.Redis(
        port=cluster.replica_of_key(STREAM), decode_responses=True, single_connection_client=True
    )
    replica.execute_command("READONLY")
    return int(replica.xlen(STREAM))


def test_a_publish_returns_once_the_replica_holds_it(cluster: RedisClusterServers) -> None:
    publisher = stream(cluster, wait_replicas=1, wait_timeout_ms=5000)

    for version in range(1, 21):
        publisher.publish([event("gw_1", version)], token=1)
        assert replica_length(cluster) == version  # no waiting here: the WAIT did it


def test_a_replica_that_does_not_acknowledge_in_time_is_a_clear_error_and_nothing_doubles(
    cluster: RedisClusterServers,
) -> None:
    publisher = stream(cluster, wait_replicas=1, wait_timeout_ms=300)
    batch = [event("gw_1", 1), event("gw_1", 2)]
    replica = cluster.replica_of_key(STREAM)

    cluster.pause(replica)
    try:
        with pytest.raises(ReplicasBehind, match="0 of the 1 replica"):
            publisher.publish(batch, token=1)
    finally:
        cluster.resume(replica)

    # The relay retries the batch: the marks turn it into no-ops, and the replica catches up.
    again = publisher.publish(batch, token=1)
    assert [p.duplicate for p in again] == [True, True]
    assert [f["event_id"] for _, f in publisher.entries()] == [e.id for e in batch]
    assert replica_length(cluster) == 2


def test_without_the_setting_no_wait_is_sent(cluster: RedisClusterServers) -> None:
    publisher = stream(cluster)
    replica = cluster.replica_of_key(STREAM)

    cluster.pause(replica)
    try:
        [publication] = publisher.publish([event("gw_1", 1)], token=1)
    finally:
        cluster.resume(replica)

    assert publication.entry_id
