"""`outbox status`: what an operator sees for the states these tests build.

The MongoDB half is computed by `outbox.views.status` over a store, the Redis half by
the stream port's `status()` on the private redis-server; the command joins them in human and
JSON form, and still reports one half when the other backend is unreachable (exit 6).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from bson import ObjectId
from click.testing import CliRunner, Result

from outbox.domain.clock import utcnow
from outbox.domain.deadlines import Timeouts
from outbox.domain.model import Gateway, LastError, Phase, Retry, State
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import LEASES, OUTBOX, Store
from outbox.store.repository import UnitOfWork
from outbox.stream import StreamConfig, StreamStatus
from outbox.stream.redis.stream import RedisStream
from outbox.views.status import gateways_status, outbox_status, overdue_seconds
from outbox.writer import Writer
from outbox_cli.app import App
from outbox_cli.main import cli
from outbox_cli.status_cmd import status
from tests.support.cli import empty_env_file
from tests.support.clock import FakeClock
from tests.support.servers import NxServer, RedisServer, free_port

STREAM = "events:gateway"
DLQ = "{events:gateway}:dlq"
GROUP = "provisioner"
TIMEOUTS = Timeouts(start=300, stop=120, delete=60)
SPEC = {"image": "nginx:1.27"}


# -- building states ----------------------------------------------------------------------------


def given_gateway(
    store: Store,
    clock: FakeClock,
    name: str,
    phase: Phase,
    *,
    in_phase_for: float = 0,
    state: State = State.RUNNING,
    retry: Retry | None = None,
    last_error: LastError | None = None,
) -> Gateway:
    """A gateway created now, then moved to `phase`, entered `in_phase_for` seconds ago."""
    created = Writer(store, clock=clock).create(name, SPEC)
    moved = created.evolve(
        phase=phase,
        state=state,
        phase_changed_at=clock.now - timedelta(seconds=in_phase_for),
        start_requested_at=clock.now - timedelta(seconds=in_phase_for),
        version=created.version + 1,
        retry=retry,
        last_error=last_error,
    )
    UnitOfWork(store).gateways.replace(moved, expected_version=created.version)
    return moved


def publish_all(store: Store) -> None:
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": utcnow()}})


def park(store: Store, gateway: Gateway, version: int, error: str) -> None:
    store.collection(OUTBOX).update_one(
        {"aggregate_id": gateway.id, "version": version},
        {"$set": {"parked": True, "attempts": 5, "last_error": error}},
    )


def given_stream(client: redis.Redis, *, entries: int, delivered: dict[str, int]) -> None:
    """`entries` on the stream; the group has delivered `delivered[consumer]` to each consumer,
    none of them acked."""
    for number in range(entries):
        client.xadd(STREAM, {"event_id": f"ev_{number}", "type": "GatewayCreated"})
    client.xgroup_create(STREAM, GROUP, id="0")
    for consumer, count in delivered.items():
        client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count)


def group_stream(client: redis.Redis) -> RedisStream:
    return RedisStream(
        client, StreamConfig(stream=STREAM, group=GROUP, consumer="p1", dead_letters=DLQ)
    )


def stream_status(client: redis.Redis, *, latest: int = 5) -> StreamStatus:
    return group_stream(client).status(latest=latest)


def given_dead_letter(client: redis.Redis, reason: str, **fields: str) -> None:
    stream = group_stream(client)
    stream.ensure_group()
    entry_id = client.xadd(STREAM, fields or {"payload": "{"})
    stream.dead_letter(str(entry_id), fields or None, reason, deliveries=5)


@pytest.fixture
def real_time_clock() -> FakeClock:
    """The command reads the wall clock, so states built for it start from the real now."""
    return FakeClock(utcnow())


# -- the MongoDB half ---------------------------------------------------------------------------


def test_backlog_counts_unpublished_events_and_ages_the_oldest(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    given_gateway(memory_store, clock, "early", Phase.CREATED)
    publish_all(memory_store)
    clock.advance(30)
    Writer(memory_store, clock=clock).create("middle", SPEC)
    first_unpublished = clock.now
    clock.advance(30)
    Writer(memory_store, clock=clock).create("late", SPEC)

    report = outbox_status(memory_store, now=clock.advance(15))

    assert report.backlog == 2
    assert report.oldest_unpublished_at == first_unpublished


def test_a_parked_event_is_listed_with_its_error_and_the_events_it_holds_up(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    writer = Writer(memory_store, clock=clock)
    stuck = writer.create("stuck", SPEC)  # v1, GatewayCreated
    writer.stop("stuck")  # v2
    writer.start("stuck")  # v3
    Writer(memory_store, clock=clock).create("other", SPEC)
    park(memory_store, stuck, 1, "ResponseError: OOM command not allowed")

    report = outbox_status(memory_store, now=clock.now)

    assert report.parked_total == 1
    (parked,) = report.parked
    assert (parked.gateway_id, parked.version, parked.type) == (stuck.id, 1, "GatewayCreated")
    assert parked.attempts == 5
    assert parked.last_error == "ResponseError: OOM command not allowed"
    assert parked.holds_up == 2
    assert report.backlog == 3, "the parked event is not backlog; the two behind it are"


def test_the_relay_lease_shows_its_holder_and_whether_it_is_still_held(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    leases = memory_store.collection(LEASES)
    leases.insert_one(
        {
            "_id": "relay:events:gateway",
            "owner": "relay-a",
            "token": 7,
            "expires_at": clock.now + timedelta(seconds=10),
        }
    )
    leases.insert_one(
        {"_id": "relay:other", "owner": "relay-b", "token": 3, "expires_at": clock.now}
    )

    held, expired = outbox_status(memory_store, now=clock.now).leases

    assert (held.name, held.owner, held.token, held.held) == (
        "relay:events:gateway",
        "relay-a",
        7,
        True,
    )
    assert held.expires_at == clock.now + timedelta(seconds=10)
    assert (expired.name, expired.held) == ("relay:other", False)


@pytest.mark.parametrize(
    ("phase", "in_phase_for", "overdue"),
    [
        (Phase.STARTING, 299, None),
        (Phase.STARTING, 300, None),
        (Phase.STARTING, 301, 1.0),
        (Phase.STOPPING, 150, 30.0),
        (Phase.DELETING, 61, 1.0),
        (Phase.STARTED, 10_000, None),  # resting phases have no deadline
        (Phase.STOPPED, 10_000, None),
        (Phase.CREATED, 10_000, None),
    ],
)
def test_a_deadline_counts_from_the_phase_change_with_that_phase_timeout(
    memory_store: MemoryStore,
    clock: FakeClock,
    phase: Phase,
    in_phase_for: float,
    overdue: float | None,
) -> None:
    gateway = given_gateway(memory_store, clock, "gw", phase, in_phase_for=in_phase_for)

    assert overdue_seconds(gateway, now=clock.now, timeouts=TIMEOUTS) == overdue


def test_a_start_is_late_by_the_time_since_it_was_requested_not_since_it_began_starting(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    # Asked for 350 s ago, but the cluster let it leave Created only 100 s ago.
    gateway = given_gateway(memory_store, clock, "gw", Phase.STARTING, in_phase_for=100)
    asked_long_ago = gateway.evolve(start_requested_at=clock.now - timedelta(seconds=350))

    assert overdue_seconds(asked_long_ago, now=clock.now, timeouts=TIMEOUTS) == 50.0


def test_gateways_needing_care_are_the_late_the_retrying_and_the_failed(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    error = LastError(reason="ApiError", message="503 from the API server", at=clock.now)
    given_gateway(memory_store, clock, "fine", Phase.STARTED)
    given_gateway(memory_store, clock, "young", Phase.STARTING, in_phase_for=10)
    given_gateway(memory_store, clock, "late", Phase.STARTING, in_phase_for=400)
    retry = Retry(attempts=3, next_at=clock.now + timedelta(seconds=8))
    given_gateway(memory_store, clock, "retrying", Phase.STOPPING, retry=retry, last_error=error)
    given_gateway(memory_store, clock, "failed", Phase.STARTED, last_error=error)
    given_gateway(memory_store, clock, "gone", Phase.DELETED, state=State.DELETED, last_error=error)

    report = gateways_status(memory_store, now=clock.now, timeouts=TIMEOUTS)

    assert [item.name for item in report.attention] == ["late", "retrying", "failed"]
    late, retrying, failed = report.attention
    assert late.overdue_seconds == 100.0
    assert retrying.retry == retry
    assert retrying.last_error == error
    assert failed.last_error == error
    assert (report.past_deadline, report.retrying, report.with_error) == (1, 1, 2)
    assert report.per_phase == {
        "Created": 0,
        "Starting": 2,
        "Started": 2,
        "Stopping": 1,
        "Stopped": 0,
        "Deleting": 0,
        "Deleted": 1,
    }


# -- the Redis half -----------------------------------------------------------------------------


def test_lag_is_what_the_group_has_not_been_given_and_pending_is_per_consumer(
    redis_client: redis.Redis,
) -> None:
    given_stream(redis_client, entries=10, delivered={"p1": 4, "p2": 2})

    report = stream_status(redis_client)

    assert report.length == 10
    assert report.group is not None
    assert report.group.lag == 4
    assert report.group.pending == 6
    assert [(c.name, c.pending) for c in report.group.pending_per_consumer] == [
        ("p1", 4),
        ("p2", 2),
    ]


def test_acked_entries_are_no_longer_pending(redis_client: redis.Redis) -> None:
    given_stream(redis_client, entries=3, delivered={"p1": 3})
    first = redis_client.xrange(STREAM, count=1)[0][0]
    redis_client.xack(STREAM, GROUP, first)

    report = stream_status(redis_client)

    assert report.group is not None
    assert (report.group.lag, report.group.pending) == (0, 2)


def test_a_stream_nobody_consumes_yet_has_no_group(redis_client: redis.Redis) -> None:
    report = stream_status(redis_client)

    assert (report.length, report.group, report.dead_letters) == (0, None, 0)


def test_dead_letters_are_counted_and_the_latest_reasons_come_first(
    redis_client: redis.Redis,
) -> None:
    for number in range(4):
        given_dead_letter(redis_client, f"reason {number}", type="GatewayCreated")

    report = stream_status(redis_client, latest=2)

    assert report.dead_letters == 4
    assert [letter.reason for letter in report.latest_dead_letters] == ["reason 3", "reason 2"]


# -- the command --------------------------------------------------------------------------------


@pytest.fixture
def busy_world(
    memory_store: MemoryStore, real_time_clock: FakeClock, redis_client: redis.Redis
) -> MemoryStore:
    """Backlog, a parked event, a held lease, lag and pending, dead letters, gateways that need
    care: one of everything `status` reports."""
    clock = real_time_clock
    error = LastError(reason="Conflict", message="409 on the Deployment", at=clock.now)
    clock.advance(-120)
    stuck = given_gateway(memory_store, clock, "stuck", Phase.STARTING, in_phase_for=600)
    given_gateway(
        memory_store,
        clock,
        "retrying",
        Phase.STARTING,
        retry=Retry(attempts=2, next_at=clock.now + timedelta(seconds=300)),
        last_error=error,
    )
    given_gateway(memory_store, clock, "calm", Phase.STARTED)
    Writer(memory_store, clock=clock).stop("stuck")  # v3, held up behind the parked v1
    park(memory_store, stuck, 1, "ResponseError: stream is full")
    clock.advance(120)
    memory_store.collection(LEASES).insert_one(
        {
            "_id": "relay:events:gateway",
            "owner": "relay-a",
            "token": 42,
            "expires_at": clock.now + timedelta(seconds=60),
        }
    )
    given_stream(redis_client, entries=5, delivered={"p1": 2})
    given_dead_letter(
        redis_client,
        "unknown event type 'GatewayExploded'",
        type="GatewayExploded",
        aggregate_id="gw_1",
    )
    return memory_store


def run_status(store: Store, redis_url: str, *args: str) -> Result:
    app = App(overrides={"redis_url": redis_url, "stream": STREAM})
    app._store = store
    return CliRunner().invoke(status, list(args), obj=app)


def test_status_prints_every_section_for_people(
    busy_world: MemoryStore, redis_server: RedisServer
) -> None:
    result = run_status(busy_world, redis_server.url)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "backlog       3 unpublished, oldest 2m00s ago" in out
    assert "parked        1" in out
    assert "holds up 1 later event(s)" in out
    assert "last error: ResponseError: stream is full" in out
    assert "relay lease   relay:events:gateway: held by relay-a (token 42)" in out
    assert "length        6 entries" in out  # 5 plus the one that was dead-lettered
    assert "group         provisioner: lag 4, pending 2, 1 consumer(s)" in out
    assert "p1  2 pending" in out
    assert "dead letters  1 in {events:gateway}:dlq" in out
    assert "GatewayExploded gw_1: unknown event type 'GatewayExploded' (5 deliveries)" in out
    assert "Starting 2, Started 1" in out
    assert "attention     2: 1 past a deadline, 1 waiting to retry, 1 with an error" in out
    stuck_row = next(line for line in out.splitlines() if line.strip().startswith("stuck "))
    assert "Starting" in stuck_row
    assert "7m00s late" in stuck_row


def test_status_json_has_every_number_a_script_needs(
    busy_world: MemoryStore, redis_server: RedisServer
) -> None:
    result = run_status(busy_world, redis_server.url, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["mongodb"]["reachable"] and report["redis"]["reachable"]
    outbox = report["outbox"]
    assert outbox["backlog"] == 3
    assert 119 <= outbox["oldest_unpublished_age_seconds"] < 125
    assert [p["last_error"] for p in outbox["parked"]] == ["ResponseError: stream is full"]
    assert outbox["leases"][0]["owner"] == "relay-a" and outbox["leases"][0]["held"]
    group = report["stream"]["group"]
    assert (group["lag"], group["pending"], group["pending_per_consumer"]) == (4, 2, {"p1": 2})
    dead = report["stream"]["dead_letters"]
    assert dead["count"] == 1
    assert dead["latest"][0]["fields"] == {"type": "GatewayExploded", "aggregate_id": "gw_1"}
    gateways = report["gateways"]
    assert gateways["per_phase"]["Starting"] == 2
    by_name = {item["name"]: item for item in gateways["attention"]}
    assert 419 < by_name["stuck"]["overdue_seconds"] < 425
    assert by_name["retrying"]["retry"]["attempts"] == 2
    assert by_name["retrying"]["last_error"]["reason"] == "Conflict"


def test_with_redis_unreachable_status_still_shows_mongodb_and_exits_6(
    busy_world: MemoryStore,
) -> None:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"

    human = run_status(busy_world, nobody_listens)
    as_json = run_status(busy_world, nobody_listens, "--json")

    assert human.exit_code == 6
    assert "backlog       3 unpublished" in human.stdout
    assert "Redis is unreachable" in human.stdout
    assert "error: Redis is unreachable" in human.stderr
    assert as_json.exit_code == 6
    report = json.loads(as_json.stdout)
    assert report["redis"]["reachable"] is False
    assert report["stream"] is None
    assert report["outbox"]["backlog"] == 3


def test_status_over_the_wire_reads_a_real_mongodb_protocol_server(
    nx_server: NxServer,
    nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    clock = FakeClock(utcnow())
    given_gateway(nx_store, clock, "late", Phase.STARTING, in_phase_for=400)
    given_gateway(
        nx_store,
        clock,
        "failed",
        Phase.STARTED,
        last_error=LastError(reason="Invalid", message="422", at=clock.now),
    )

    result = CliRunner().invoke(
        cli,
        ["--env-file", empty_env_file(tmp_path), "status", "--json"],
        env={
            "OUTBOX_MONGODB_URI": nx_server.uri,
            "OUTBOX_DATABASE": nx_store.database.name,
            "OUTBOX_REDIS_URL": redis_server.url,
        },
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outbox"]["backlog"] == 2
    assert [item["name"] for item in report["gateways"]["attention"]] == ["late", "failed"]
    assert report["stream"]["length"] == 0


# -- documents in the outbox that are not events ------------------------------------------------


def given_unreadable_documents(store: Store, clock: FakeClock) -> tuple[Gateway, str, str]:
    """`edge` (v1, v2, v3) with its v2 turned into no event and parked by a relay, plus a parked
    document with an ObjectId `_id`, no gateway and no version. Returns the gateway and the
    ids status names the two by."""
    writer = Writer(store, clock=clock)
    edge = writer.create("edge", SPEC)
    writer.stop("edge")
    writer.start("edge")
    outbox = store.collection(OUTBOX)
    v2 = outbox.find_one({"aggregate_id": edge.id, "version": 2})
    assert v2 is not None
    outbox.update_one(
        {"_id": v2["_id"]},
        {"$set": {"type": "Renamed", "parked": True, "last_error": "unreadable: type"}},
    )
    stray = ObjectId()
    outbox.insert_one({"_id": stray, "published_at": None, "parked": True, "note": "hand-made"})
    return edge, v2["_id"], str(stray)


def test_an_unreadable_parked_document_is_listed_with_its_id_and_reason(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    edge, renamed, stray = given_unreadable_documents(memory_store, clock)

    report = outbox_status(memory_store, now=clock.now)

    assert report.parked_total == 2
    by_id = {parked.event_id: parked for parked in report.parked}
    assert by_id[renamed].unreadable and by_id[renamed].last_error == "unreadable: type"
    assert (by_id[renamed].gateway_id, by_id[renamed].version) == (edge.id, 2)
    assert by_id[renamed].holds_up == 1
    assert len(stray) == 24 and by_id[stray].unreadable
    assert (by_id[stray].gateway_id, by_id[stray].version) == (None, None)
    assert by_id[stray].last_error is not None
    assert by_id[stray].last_error.startswith("unreadable outbox document: ")


def test_status_text_and_json_show_unreadable_documents(
    memory_store: MemoryStore, redis_server: RedisServer, real_time_clock: FakeClock
) -> None:
    edge, renamed, stray = given_unreadable_documents(memory_store, real_time_clock)

    human = run_status(memory_store, redis_server.url)
    as_json = run_status(memory_store, redis_server.url, "--json")

    assert human.exit_code == 0, human.output
    assert f"{renamed}  UNREADABLE (gateway {edge.id}, v2), holds up 1 event(s)" in human.stdout
    assert f"{stray}  UNREADABLE (no gateway, no version)" in human.stdout
    assert as_json.exit_code == 0, as_json.output
    parked = {p["event_id"]: p for p in json.loads(as_json.stdout)["outbox"]["parked"]}
    assert parked[renamed]["unreadable"] is True
    assert parked[renamed]["last_error"] == "unreadable: type"
    assert parked[stray]["gateway_id"] is None and parked[stray]["version"] is None


def test_status_survives_an_unparked_document_without_a_date(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    Writer(memory_store, clock=clock).create("edge", SPEC)
    memory_store.collection(OUTBOX).insert_one({"_id": ObjectId(), "published_at": None})

    report = outbox_status(memory_store, now=clock.now)

    assert report.backlog == 2
    assert report.oldest_unpublished_at == clock.now
