"""`outbox dlq` across the partitions: each partition's dead letters listed, replayed onto
their own partition's stream, and dropped, named `N/<record id>`."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from click.testing import CliRunner, Result

from outbox.store.memory.store import MemoryStore
from outbox.stream import StreamConfig
from outbox.stream.keys import partition_stream
from outbox.stream.redis.stream import RedisStream
from outbox_cli.app import App
from outbox_cli.main import cli
from tests.support.partitions import STREAM, record_partitions
from tests.support.servers import RedisServer
from tests.support.waiting import wait_until

P = 4


def dead_letter(client: redis.Redis, partition: int, gateway: str) -> str:
    """An entry of the partition's stream, read by the group and dead-lettered: its id."""
    name = partition_stream(STREAM, partition)
    stream = RedisStream(client, StreamConfig(stream=name, consumer="p1"))
    stream.ensure_group()
    entry_id = client.xadd(name, {"aggregate_id": gateway, "type": "Nope"})
    stream.dead_letter(str(entry_id), {"aggregate_id": gateway, "type": "Nope"}, "why", 5)
    letter = stream.latest_dead_letters(1)[0].id
    # Record ids are Redis's milliseconds: letters of two partitions within one millisecond
    # would tie, and "newest first" could not order them.
    milliseconds = int(letter.partition("-")[0])
    wait_until(lambda: redis_milliseconds(client) > milliseconds, "the next millisecond")
    return f"{partition}/{letter}"


def redis_milliseconds(client: redis.Redis) -> int:
    seconds, microseconds = client.time()
    return seconds * 1000 + microseconds // 1000


def run(store: MemoryStore, url: str, tmp_path: Path, *args: str) -> Result:
    app = App(env_file=None)
    app._store = store
    command = ["--env-file", str(tmp_path / "no.env"), "--redis-url", url, "dlq", *args]
    return CliRunner().invoke(cli, command, obj=app)


def test_dead_letters_of_every_partition_are_listed_replayed_and_dropped(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    store = MemoryStore()
    record_partitions(store, P)
    first, second, third = (dead_letter(redis_client, n, f"gw_{n}") for n in (1, 3, 3))

    listed = run(store, redis_server.url, tmp_path, "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [letter["id"] for letter in json.loads(listed.stdout)] == [third, second, first]
    text = run(store, redis_server.url, tmp_path, "list").stdout
    assert text.startswith("3 dead letter(s) in {events:gateway}:dlq and 4 partition(s)")

    replayed = run(store, redis_server.url, tmp_path, "replay", second)
    assert replayed.exit_code == 0, replayed.output
    assert "onto {events:gateway:3}" in replayed.stdout
    assert redis_client.xlen(partition_stream(STREAM, 3)) == 3  # two entries and the replay

    dropped = run(store, redis_server.url, tmp_path, "drop", first)
    assert dropped.exit_code == 0, dropped.output
    assert redis_client.xlen("{events:gateway:1}:dlq") == 0

    everything = run(store, redis_server.url, tmp_path, "replay", "--all")
    assert everything.exit_code == 0, everything.output
    assert "1 replayed, 0 skipped" in everything.stdout
    assert json.loads(run(store, redis_server.url, tmp_path, "list", "--json").stdout) == []


def test_a_name_that_is_no_partition_is_refused_with_exit_2(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    result = run(MemoryStore(), redis_server.url, tmp_path, "drop", "x/1-0")
    assert result.exit_code == 2
    assert "N/<record id>" in result.output
