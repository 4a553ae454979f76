"""One harness per stream adapter, so a single contract suite runs against both."""

from __future__ import annotations

import pytest

from tests.support.stream_harness import Harness, MemoryHarness, RedisHarness


@pytest.fixture(params=["memory", "redis-server"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return MemoryHarness()
    return RedisHarness(
        request.getfixturevalue("redis_server"), request.getfixturevalue("redis_client")
    )
