"""End to end on a Redis Cluster: `outbox relay run` and `outbox provisioner run` as processes,
nx-27017 as the store, gateways taken to Started with every event in the stream once and each
gateway's in version order.

nx-27017 takes one transactional client at a time, so the processes take turns: the relay
publishes what the writer committed and exits, the provisioner starts the gateways (on the
in-memory cluster: Kubernetes is not what this test is about) and is stopped, and the relay
publishes the events the provisioner committed.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from outbox.domain.events import EventType as E
from outbox.domain.model import Phase
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX
from outbox.stream import StreamConfig
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from tests.support.cli import ROOT, nx_daemon_env, outbox_process
from tests.support.gateways import phases
from tests.support.redis_cluster import RedisClusterServers
from tests.support.relay import assert_each_once, assert_gateway_order, unpublished
from tests.support.servers import NxServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

STREAM = "events:gateway"


def on_the_cluster(
    *args: str, nx: NxServer, store: MongoStore, cluster: RedisClusterServers, tmp_path: Path
) -> subprocess.Popen[str]:
    environment = nx_daemon_env(
        nx,
        store.database.name,
        cluster.url,
        OUTBOX_CLUSTER="memory",
        OUTBOX_MEMORY_ROLLOUT="0.2",
        OUTBOX_SWEEP_INTERVAL="0.5",
        OUTBOX_GRACE_SECONDS="3",
        OUTBOX_LEASE_SECONDS="2",
        PYTHONPATH=str(ROOT),
    )
    return outbox_process(args, env=environment, cwd=tmp_path)


def test_relay_and_provisioner_processes_take_gateways_to_started_on_a_redis_cluster(
    nx_server: NxServer,
    nx_store: MongoStore,
    redis_cluster: RedisClusterServers,
    redis_cluster_client: RedisCluster,
    tmp_path: Path,
) -> None:
    ctx = {"nx": nx_server, "store": nx_store, "cluster": redis_cluster, "tmp_path": tmp_path}
    writer = Writer(nx_store)
    ids = [writer.create(f"edge-{n}", {"image": "nginx:1.27"}).id for n in range(5)]

    # The relay publishes the creations to the cluster and exits.
    relay = on_the_cluster("relay", "run", "--once", **ctx)
    _, err = relay.communicate(timeout=60)
    assert relay.returncode == 0, err

    # The provisioner starts every gateway.
    provisioner = on_the_cluster("provisioner", "run", **ctx)
    try:
        wait_until(
            lambda: phases(nx_store) == Counter({Phase.STARTED: len(ids)}),
            "every gateway Started",
            timeout=60,
            interval=0.2,
            process=provisioner,
        )
    finally:
        provisioner.send_signal(signal.SIGTERM)
        _, err = provisioner.communicate(timeout=15)
    assert provisioner.returncode == 0, err

    # The relay publishes what the provisioner committed.
    relay = on_the_cluster("relay", "run", "--once", **ctx)
    _, err = relay.communicate(timeout=60)
    assert relay.returncode == 0, err

    # Then every event is in the stream once, each gateway's in version order.
    events = nx_store.collection(OUTBOX).find({})
    stream = RedisStream(redis_cluster_client, StreamConfig(stream=STREAM))
    assert unpublished(nx_store) == []
    assert_each_once(stream, [event["_id"] for event in events])
    assert_gateway_order(stream)
    assert len(stream.entries()) == len(events)
    for gateway_id in ids:
        story = [f["type"] for _, f in stream.entries() if f["aggregate_id"] == gateway_id]
        assert story == [E.CREATED, E.STARTING, E.STARTED], gateway_id
    status = stream.status()
    assert status.group is not None and status.group.pending == 0
