"""`outbox dlq list|replay|drop` against the private redis-server, through the real command line.

Dead letters are made by the stream port's own `dead_letter`, as the provisioner makes them, so
these tests read the record format the provisioner writes. What the port itself does with dead
letters is in the stream contract suite (tests/stream).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis
import yaml
from click.testing import CliRunner, Result

from outbox.store.memory.store import MemoryStore
from outbox.stream import StreamConfig
from outbox.stream.redis.stream import RedisStream
from outbox_cli.app import App
from outbox_cli.main import cli
from tests.support.cli import empty_env_file
from tests.support.servers import RedisServer, free_port

STREAM = "events:gateway"
DLQ = "{events:gateway}:dlq"


@pytest.fixture
def dlq(redis_client: redis.Redis, redis_server: RedisServer, tmp_path: Path) -> Dlq:
    return Dlq(redis_client, redis_server.url, tmp_path)


class Dlq:
    """Makes dead letters the provisioner's way and runs `outbox dlq …` on them."""

    def __init__(self, client: redis.Redis, url: str, tmp_path: Path) -> None:
        self.redis = client
        self.url = url
        self.no_env_file = empty_env_file(tmp_path)
        self.group = RedisStream(
            client,
            StreamConfig(stream=STREAM, group="provisioner", consumer="p1", dead_letters=DLQ),
        )
        self.group.ensure_group()

    def dead_letter(self, reason: str, fields: dict[str, str] | None) -> str:
        """An entry read by the group, then dead-lettered; returns the dead letter's id."""
        entry_id = self.redis.xadd(STREAM, fields or {"junk": "x"})
        self.group.dead_letter(str(entry_id), fields, reason, deliveries=5)
        return str(self.redis.xrevrange(DLQ, count=1)[0][0])

    def run(self, *args: str, url: str | None = None) -> Result:
        app = App(env_file=None)
        app._store = MemoryStore()  # the partition count is read from MongoDB: none recorded
        return CliRunner().invoke(
            cli,
            ["--env-file", self.no_env_file, "--redis-url", url or self.url, "dlq", *args],
            obj=app,
        )


def fields_of(gateway: str, type: str = "GatewayStarted") -> dict[str, str]:
    return {
        "event_id": f"ev_{gateway}",
        "type": type,
        "aggregate_type": "gateway",
        "aggregate_id": gateway,
        "version": "3",
        "occurred_at": "2026-01-01T12:00:00.000Z",
        "payload": "{}",
    }


def test_list_shows_each_dead_letter_newest_first_with_its_reason(dlq: Dlq) -> None:
    older = dlq.dead_letter("delivered 5 times without an ack", fields_of("gw_a"))
    newer = dlq.dead_letter("unknown event type 'Nope'", fields_of("gw_b", type="Nope"))

    result = dlq.run("list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "2 dead letter(s) in {events:gateway}:dlq"
    assert lines[1].split()[:5] == ["ID", "ENTRY", "TYPE", "GATEWAY", "DELIVERIES"]
    assert lines[2].startswith(newer) and lines[2].split()[2:4] == ["Nope", "gw_b"]
    assert lines[2].endswith("unknown event type 'Nope'")
    assert lines[3].startswith(older) and lines[3].endswith("delivered 5 times without an ack")


def test_list_json_gives_the_original_fields_apart_from_the_dlq_ones(dlq: Dlq) -> None:
    dlq_id = dlq.dead_letter("delivered 5 times without an ack", fields_of("gw_a"))

    result = dlq.run("list", "--json", "--limit", "1")

    assert result.exit_code == 0, result.output
    (letter,) = json.loads(result.stdout)
    assert letter["id"] == dlq_id
    assert letter["fields"] == fields_of("gw_a")
    assert letter["reason"] == "delivered 5 times without an ack"
    assert (letter["deliveries"], letter["consumer"]) == (5, "p1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", letter["at"])  # RFC 3339 UTC


def test_list_limit_keeps_the_newest(dlq: Dlq) -> None:
    for number in range(3):
        dlq.dead_letter(f"reason {number}", fields_of(f"gw_{number}"))

    result = dlq.run("list", "--limit", "2")

    assert (
        result.stdout.splitlines()[0] == "3 dead letter(s) in {events:gateway}:dlq, newest 2 shown"
    )
    assert "reason 2" in result.stdout and "reason 1" in result.stdout
    assert "reason 0" not in result.stdout


def test_replay_puts_the_original_fields_back_on_the_stream_and_removes_the_dead_letter(
    dlq: Dlq,
) -> None:
    dlq_id = dlq.dead_letter("handler kept dying", fields_of("gw_a"))
    before = dlq.redis.xlen(STREAM)

    result = dlq.run("replay", dlq_id)

    assert result.exit_code == 0, result.output
    new_id, fields = dlq.redis.xrevrange(STREAM, count=1)[0]
    assert result.stdout == f"replayed {dlq_id} onto {STREAM} as {new_id}\n"
    assert fields == fields_of("gw_a")
    assert dlq.redis.xlen(STREAM) == before + 1
    assert dlq.redis.xlen(DLQ) == 0


def test_the_provisioner_group_reads_a_replayed_entry_as_new(dlq: Dlq) -> None:
    dlq_id = dlq.dead_letter("handler kept dying", fields_of("gw_a"))
    dlq.group.read_new(count=100, block_ms=None)  # the group is past everything so far

    dlq.run("replay", dlq_id)

    assert [fields for _, fields in dlq.group.read_new(count=100, block_ms=None)] == [
        fields_of("gw_a")
    ]


def test_replay_all_replays_every_dead_letter_oldest_first(dlq: Dlq) -> None:
    for gateway in ("gw_a", "gw_b", "gw_c"):
        dlq.dead_letter("handler kept dying", fields_of(gateway))
    dlq.redis.delete(STREAM)

    result = dlq.run("replay", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 replayed, 0 skipped"
    replayed = [fields["aggregate_id"] for _, fields in dlq.redis.xrange(STREAM)]
    assert replayed == ["gw_a", "gw_b", "gw_c"]
    assert dlq.redis.xlen(DLQ) == 0


def test_replay_all_skips_dead_letters_with_nothing_to_replay_and_keeps_them(dlq: Dlq) -> None:
    dlq.dead_letter("handler kept dying", fields_of("gw_a"))
    empty = dlq.dead_letter("entry gone from the stream", None)

    result = dlq.run("replay", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 replayed, 1 skipped"
    assert f"skipped {empty}: dead letter {empty} kept no fields" in result.stderr
    assert [record_id for record_id, _ in dlq.redis.xrange(DLQ)] == [empty]


def test_drop_deletes_the_dead_letter_and_nothing_else(dlq: Dlq) -> None:
    kept = dlq.dead_letter("reason a", fields_of("gw_a"))
    dropped = dlq.dead_letter("reason b", fields_of("gw_b"))
    before = dlq.redis.xlen(STREAM)

    result = dlq.run("drop", dropped)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"dropped {dropped} from {DLQ}\n"
    assert [record_id for record_id, _ in dlq.redis.xrange(DLQ)] == [kept]
    assert dlq.redis.xlen(STREAM) == before


def test_the_id_of_the_entry_the_provisioner_logged_works_too(dlq: Dlq) -> None:
    # The provisioner's log names the entry it dead-lettered; that id is enough here.
    dropped = dlq.dead_letter("reason a", fields_of("gw_a"))
    replayed = dlq.dead_letter("reason b", fields_of("gw_b"))
    source_of = {
        record: dlq.group.get_dead_letter(record).entry_id for record in (dropped, replayed)
    }

    drop = dlq.run("drop", source_of[dropped], "-o", "json")
    replay = dlq.run("replay", source_of[replayed], "-o", "yaml")

    assert drop.exit_code == 0, drop.output
    assert json.loads(drop.stdout) == {"dropped": source_of[dropped], "stream": DLQ}
    assert replay.exit_code == 0, replay.output
    assert yaml.safe_load(replay.stdout)["replayed"][0]["id"] == source_of[replayed]
    assert dlq.redis.xlen(DLQ) == 0


@pytest.mark.parametrize("command", [("replay",), ("drop",)])
def test_an_unknown_id_is_not_found_exit_5(dlq: Dlq, command: tuple[str, ...]) -> None:
    result = dlq.run(*command, "1-0")

    assert result.exit_code == 5
    assert result.stderr == f"error: no dead letter 1-0 in {DLQ}\n"


@pytest.mark.parametrize(
    "args",
    [("replay",), ("replay", "1-0", "--all"), ("replay", "not-an-id"), ("drop", "12abc")],
)
def test_bad_usage_exits_2(dlq: Dlq, args: tuple[str, ...]) -> None:
    result = dlq.run(*args)

    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_redis_unreachable_exits_6_with_one_line(dlq: Dlq) -> None:
    result = dlq.run("list", url=f"redis://127.0.0.1:{free_port()}/0")

    assert result.exit_code == 6
    assert result.stderr.startswith("error: Redis is unreachable")
    assert result.stderr.count("\n") == 1
