"""One harness per stream adapter, so a single contract suite runs against each: the in-memory
stream, a single redis-server and a Redis Cluster."""

from __future__ import annotations

import pytest

from tests.support.stream_harness import ClusterHarness, Harness, MemoryHarness, RedisHarness


@pytest.fixture(params=["memory", "redis-server", "redis-cluster"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return MemoryHarness()
    if request.param == "redis-cluster":
        return ClusterHarness(
            request.getfixturevalue("redis_cluster"),
            request.getfixturevalue("redis_cluster_client"),
        )
    return RedisHarness(
        request.getfixturevalue("redis_server"), request.getfixturevalue("redis_client")
    )
