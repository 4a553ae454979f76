"""Running daemons share the partitions: a second relay or provisioner gets its fair share
within a lease time, and when it stops its partitions come back; a Redis outage stops no
replica's sweeps, since partition leases live in MongoDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from tests.support.partitioned_deployment import LEASE, STREAM, Deployment
from tests.support.partitions import record_partitions
from tests.support.waiting import wait_until

P = 8
WITHIN = 3 * LEASE  # a lease time, plus room for a loaded machine


@pytest.fixture
def run() -> Iterator[Deployment]:
    store = MemoryStore()
    record_partitions(store, P)
    stream = MemoryStream(StreamConfig(stream=STREAM))
    deployment = Deployment(store, stream, MemoryCluster(rollout_seconds=0.05))
    yield deployment
    deployment.stop_all()


def split(run: Deployment, *names: str) -> list[int]:
    return sorted(len(run.owned(name)) for name in names)


@pytest.mark.parametrize("start", ["relay", "provisioner"])
def test_a_second_replica_gets_half_within_a_lease_time_and_gives_it_back_when_it_stops(
    run: Deployment, start: str
) -> None:
    launch = run.relay if start == "relay" else run.provisioner
    launch("one")
    wait_until(lambda: run.owned("one") == set(range(P)), "one owns all", timeout=WITHIN)

    launch("two")
    wait_until(lambda: split(run, "one", "two") == [4, 4], "split 4/4", timeout=WITHIN)
    assert not run.owned("one") & run.owned("two")

    run.stop("two")
    wait_until(lambda: run.owned("one") == set(range(P)), "all back", timeout=WITHIN)


def test_a_redis_outage_stops_no_replicas_sweeps(run: Deployment) -> None:
    run.provisioner("p1")
    run.provisioner("p2")
    wait_until(lambda: split(run, "p1", "p2") == [4, 4], "split 4/4", timeout=WITHIN)
    stream = run.stream
    assert isinstance(stream, MemoryStream)
    stream.down()  # no entry can be read: only the sweeps can bring the gateways up
    writer = Writer(run.store)
    ids = [writer.create(f"gw-{n}", {"image": "nginx:1.27"}).id for n in range(40)]

    wait_until(lambda: run.all_in(ids, Phase.STARTED), "all started by sweeps", timeout=60)
    assert run.recorder.passes["p1"] > 0 and run.recorder.passes["p2"] > 0
    assert split(run, "p1", "p2") == [4, 4], "the leases held through the outage"
    assert not run.recorder.overlaps
