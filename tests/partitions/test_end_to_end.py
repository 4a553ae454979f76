"""End to end with P = 8 on a 3-master Redis Cluster: two relays and three provisioners as
threads of this process on the in-memory store and the memory cluster, 200 gateways created,
started, stopped and deleted, one relay and one provisioner killed mid-run."""

from __future__ import annotations

import pytest

from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import StreamConfig
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from tests.support.partitioned_deployment import STREAM, Deployment
from tests.support.partitions import assert_each_once_in_its_partition, record_partitions
from tests.support.redis_cluster import RedisClusterServers
from tests.support.waiting import wait_until

P = 8
GATEWAYS = 200
SPEC = {"image": "nginx:1.27"}
PHASE_TIMEOUT = 240  # generous: two cores shared with other test runs


@pytest.mark.slow
# The killed daemons' threads die of `Killed` where they stand: that is the point.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_two_relays_and_three_provisioners_on_eight_partitions_lose_and_duplicate_nothing(
    redis_cluster: RedisClusterServers, redis_cluster_client: object
) -> None:
    store = MemoryStore()
    record_partitions(store, P)
    stream = RedisStream.from_url(redis_cluster.url, StreamConfig(stream=STREAM))
    run = Deployment(store, stream, MemoryCluster(namespace="gateways", rollout_seconds=0.05))
    writer = Writer(store)
    try:
        for name in ("relay-a", "relay-b"):
            run.relay(name)
        for name in ("p1", "p2", "p3"):
            run.provisioner(name)
        ids = [writer.create(f"gw-{n}", SPEC).id for n in range(GATEWAYS)]

        # Mid-run: some gateways started, not all.
        wait_until(lambda: run.phases(ids)["Started"] >= 20, "first starts", timeout=60)
        run.kill("relay-b")
        run.kill("p2")
        wait_until(lambda: run.all_in(ids, Phase.STARTED), "all started", timeout=PHASE_TIMEOUT)
        for gateway_id in ids:
            writer.stop(gateway_id)
        wait_until(lambda: run.all_in(ids, Phase.STOPPED), "all stopped", timeout=PHASE_TIMEOUT)
        for gateway_id in ids:
            writer.delete(gateway_id)
        wait_until(lambda: run.all_in(ids, Phase.DELETED), "all deleted", timeout=PHASE_TIMEOUT)
        wait_until(lambda: run.settled(P), "all published and acked", timeout=60)
        # The survivors took over the killed ones' partitions, and split them fairly.
        assert run.owned("relay-a") == set(range(P))
        assert sorted(len(run.owned(name)) for name in ("p1", "p3")) == [4, 4]
    finally:
        run.stop_all()

    events = store.collection(OUTBOX).find({})
    assert len(events) >= GATEWAYS * 9  # 3 intents + 6 provisioner events per gateway at least
    assert_each_once_in_its_partition(stream, P, [str(event["_id"]) for event in events])
    assert not run.recorder.overlaps, run.recorder.overlaps[:5]
    assert run.recorder.passes["p2"] > 0, "the killed provisioner had been working"
