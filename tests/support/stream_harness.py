"""One harness per stream adapter: the adapter under the contract, and what the suite does to the
backend behind it (let time pass, cause an outage)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from outbox.domain.events import EventType, OutboxEvent
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream
from tests.support.redis_cluster import RedisClusterServers
from tests.support.servers import RedisServer

STREAM = "events:gateway"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(gateway: str = "gw_1", version: int = 1, **fields: Any) -> OutboxEvent:
    return OutboxEvent(
        type=EventType.CREATED, aggregate_id=gateway, version=version, occurred_at=NOW, **fields
    )


class Harness:
    """An adapter under the contract, and what the suite does to the backend behind it."""

    name = "?"

    def stream(self, **config: Any) -> MemoryStream | RedisStream:
        raise NotImplementedError

    def pass_time(self, seconds: float) -> None:
        """Let idle times and every expiry run on by this much."""
        raise NotImplementedError

    def outage(self) -> AbstractContextManager[None]:
        """The backend cannot be reached inside the block."""
        raise NotImplementedError


class MemoryHarness(Harness):
    name = "memory"

    def __init__(self) -> None:
        self.now = 1000.0
        self.memory = MemoryStream(StreamConfig(stream=STREAM), monotonic=lambda: self.now)

    def stream(self, **config: Any) -> MemoryStream:
        return self.memory.with_config(StreamConfig(**{"stream": STREAM, **config}))

    def pass_time(self, seconds: float) -> None:
        self.now += seconds

    def outage(self) -> AbstractContextManager[None]:
        return self.memory.outage()


class RedisHarness(Harness):
    name = "redis-server"

    def __init__(self, server: RedisServer, client: Any) -> None:
        self.server = server
        self.client = client

    def stream(self, **config: Any) -> RedisStream:
        return RedisStream(self.client, StreamConfig(**{"stream": STREAM, **config}))

    def pass_time(self, seconds: float) -> None:
        if seconds <= 5:
            time.sleep(seconds)
            return
        # Redis's clock cannot be moved: what a long wait would do is expire every key whose
        # time to live is shorter, so those go now.
        for key in self.client.scan_iter(count=1000):
            if 0 <= self.client.pttl(key) <= seconds * 1000:
                self.client.delete(key)

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.server.stop()
        try:
            yield
        finally:
            self.server.start()


class ClusterHarness(RedisHarness):
    """The same calls on a three-master Redis Cluster, through redis-py's cluster client."""

    name = "redis-cluster"

    def __init__(self, cluster: RedisClusterServers, client: Any) -> None:
        self.cluster = cluster
        self.client = client

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.cluster.stop()
        try:
            yield
        finally:
            self.cluster.start()
