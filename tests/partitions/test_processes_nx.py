"""Relay and provisioner processes on a partitioned nx-27017 database, at the scale nx-27017
handles: the gateways are created first, then two relays and one provisioner (the one client
with transactions) run, and one relay is killed with SIGKILL mid-run."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import redis

from outbox.domain.model import Phase
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX
from outbox.store.repository import UnitOfWork
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from tests.support.cli import nx_daemon_env, outbox_process, relay_process
from tests.support.partitions import assert_each_once_in_its_partition, record_partitions
from tests.support.servers import NxServer, RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

P = 4
GATEWAYS = 12


def provisioner_process(
    nx: NxServer, store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> subprocess.Popen[str]:
    environment = nx_daemon_env(
        nx,
        store.database.name,
        redis_server.url,
        OUTBOX_CLUSTER="memory",
        OUTBOX_MEMORY_ROLLOUT="0.2",
        OUTBOX_CONSUMER="p1",
        OUTBOX_SWEEP_INTERVAL="0.5",
        OUTBOX_HEARTBEAT_INTERVAL="1",
        OUTBOX_PARTITION_LEASE_SECONDS="3",
    )
    return outbox_process(["provisioner", "run"], env=environment, cwd=tmp_path)


def test_relay_and_provisioner_processes_share_the_partitions_and_survive_a_killed_relay(
    nx_server: NxServer,
    nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    record_partitions(nx_store, P)
    writer = Writer(nx_store)
    ids = [writer.create(f"gw-{n}", {"image": "nginx:1.27"}).id for n in range(GATEWAYS)]
    relays = {
        name: relay_process(
            [],
            nx=nx_server,
            store=nx_store,
            redis_server=redis_server,
            tmp_path=tmp_path,
            OUTBOX_RELAY_ID=name,
        )
        for name in ("relay-a", "relay-b")
    }
    provisioner = provisioner_process(nx_server, nx_store, redis_server, tmp_path)
    processes = [*relays.values(), provisioner]
    gateways = UnitOfWork(nx_store).gateways
    try:
        wait_until(lambda: redis_client.exists("{events:gateway:0}"), "publishing", timeout=60)
        relays["relay-b"].send_signal(signal.SIGKILL)
        relays["relay-b"].wait(timeout=10)
        wait_until(
            lambda: all((g := gateways.get(i)) and g.phase == Phase.STARTED for i in ids),
            "every gateway Started",
            timeout=120,
            interval=0.2,
        )
        unpublished = lambda: nx_store.collection(OUTBOX).count_documents({"published_at": None})  # noqa: E731
        wait_until(lambda: unpublished() == 0, "every event published", timeout=30)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=30)

    events = nx_store.collection(OUTBOX).find({})
    assert len(events) >= GATEWAYS * 3  # created, starting, started
    assert_each_once_in_its_partition(
        RedisStream(redis_client), P, [str(event["_id"]) for event in events]
    )
