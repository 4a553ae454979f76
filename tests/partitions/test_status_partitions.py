"""`outbox status` per partition: backlog, relay and provisioner owners, lag and pending."""

from __future__ import annotations

import json

import redis
from click.testing import CliRunner, Result

from outbox.coordination.ownership import PartitionOwnership
from outbox.domain.partitions import partition_of
from outbox.store.memory.store import MemoryStore
from outbox.stream import StreamConfig
from outbox.stream.keys import partition_stream
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from outbox_cli.app import App
from outbox_cli.status_cmd import status
from relay.factory import build_relay
from tests.support.partitions import STREAM, record_partitions
from tests.support.relay import relay_settings
from tests.support.servers import RedisServer

P = 4


def run_status(store: MemoryStore, redis_url: str, *args: str) -> Result:
    app = App(overrides={"redis_url": redis_url, "stream": STREAM})
    app._store = store
    return CliRunner().invoke(status, list(args), obj=app)


def test_status_shows_each_partitions_backlog_owners_lag_and_pending(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    store = MemoryStore()
    record_partitions(store, P)
    writer = Writer(store)
    ids = [writer.create(f"gw-{n}", {"image": "nginx:1.27"}).id for n in range(12)]
    stream = RedisStream(redis_client, StreamConfig(stream=STREAM))
    relay = build_relay(
        relay_settings(relay_id="relay-a"), store=store, stream=stream, change_streams=False
    )
    relay.run_once()  # takes every relay lease, publishes everything
    PartitionOwnership(
        store,
        role="provisioner",
        owner="p1",
        stream=STREAM,
        partitions=P,
        lease_seconds=30,
    ).balance()
    busy = partition_of(ids[0], P)
    in_busy = sum(1 for i in ids if partition_of(i, P) == busy)
    consumer = stream.with_config(
        StreamConfig(stream=partition_stream(STREAM, busy), consumer="p1")
    )
    consumer.ensure_group()
    consumer.read_new(count=1, block_ms=None)  # one delivered, not acked
    writer.stop(ids[0])  # one more in the backlog of that partition

    result = run_status(store, redis_server.url, "--json")

    assert result.exit_code == 0, result.output
    rows = {row["partition"]: row for row in json.loads(result.stdout)["partitions"]}
    assert sorted(rows) == list(range(P))
    assert {row["relay"] for row in rows.values()} == {"relay-a"}
    assert {row["provisioner"] for row in rows.values()} == {"p1"}
    assert rows[busy]["backlog"] == 1 and rows[busy]["pending"] == 1
    assert rows[busy]["lag"] == in_busy - 1
    assert sum(row["backlog"] for row in rows.values()) == 1

    text = run_status(store, redis_server.url).stdout
    assert "PARTITIONS  4" in text
    assert "relay lease" not in text  # the partitions' leases are shown in their rows
    [line] = [line for line in text.splitlines() if line.strip().startswith(f"{busy} ")]
    assert line.split() == [str(busy), "1", "relay-a", "p1", str(in_busy - 1), "1"]


def test_status_without_partitions_says_so(redis_server: RedisServer) -> None:
    result = run_status(MemoryStore(), redis_server.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["partitions"] is None
    assert "PARTITIONS" not in run_status(MemoryStore(), redis_server.url).stdout
