"""The informer reconnects without a hot loop when a server ends every watch at once."""

from __future__ import annotations

from collections.abc import Iterator

from provisioner.cluster.informer import Informer
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import WatchEvent
from tests.support.waiting import wait_until


class EndsEveryWatchAtOnce(MemoryCluster):
    """Lists as the memory cluster does; every watch ends before telling anything."""

    def __init__(self) -> None:
        super().__init__(namespace="gateways")
        self.watches = 0

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        self.watches += 1
        return iter(())


def test_watches_the_server_ends_at_once_are_retried_with_back_off() -> None:
    cluster = EndsEveryWatchAtOnce()
    delays: list[int] = []

    def backoff(attempt: int) -> float:
        delays.append(attempt)
        return 0.2

    informer = Informer(cluster, ObjectCache(), backoff=backoff).start()
    try:
        wait_until(lambda: len(delays) >= 6, "back-off after watches that end at once")
    finally:
        informer.stop()

    # Three kinds, each backing off more with every empty watch instead of reconnecting at once:
    # in the time of about two back-offs, a few watches, not thousands.
    assert cluster.watches < 30
    assert max(delays) >= 1, "the attempts count up while the watches keep ending at once"
