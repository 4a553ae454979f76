"""`outbox init --partitions P`: P recorded in MongoDB, every document given its partition, and
a change refused (exit 3, one line, nothing written) while anything is unpublished or unacked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from outbox.coordination.partition_count import (
    CachedCount,
    partition_count,
    read_record,
    write_record,
)
from outbox.domain.clock import utcnow
from outbox.domain.partitions import partition_of
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS, OUTBOX, Store
from outbox.store.repository import UnitOfWork
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from tests.support.cli import invoke_outbox
from tests.support.clock import FakeClock
from tests.support.world import World

SPEC = {"image": "nginx:1.27"}


@pytest.fixture
def world() -> Iterator[World]:
    # From now: the retention index `init` creates would expire events published in the past.
    world = World(FakeClock(utcnow()))
    yield world
    world.close()


def stamped(store: Store, collection: str) -> dict[str, int | None]:
    """Each document's partition (None: it has none), by its id."""
    return {str(d["_id"]): d.get("partition") for d in store.collection(collection).find({})}


def expected_partitions(store: Store, partitions: int) -> tuple[dict[str, int], dict[str, int]]:
    gateways = {str(d["_id"]): partition_of(d["_id"], partitions) for d in _all(store, GATEWAYS)}
    events = {
        str(d["_id"]): partition_of(d["aggregate_id"], partitions) for d in _all(store, OUTBOX)
    }
    return gateways, events


def _all(store: Store, collection: str) -> list[dict[str, object]]:
    return store.collection(collection).find({})


def settle_and_drain(world: World) -> None:
    """Until every event is published and every entry acked."""
    for _ in range(30):
        world.step()
        world.clock.advance(1)
        group = world.stream.status().group
        acked = group is not None and group.pending == 0 and not group.lag
        if acked and not UnitOfWork(world.store).events.backlog():
            return
    raise AssertionError("the world never drained")


def test_init_on_a_fresh_database_records_eight_partitions_and_needs_no_redis() -> None:
    store = MemoryStore()
    result = invoke_outbox(store, "init")
    assert result.exit_code == 0, result.output
    assert "partitions: 1 -> 8" in result.output
    assert partition_count(store) == 8


def test_the_writer_stamps_each_gateway_and_its_events_with_the_recorded_partition() -> None:
    store = MemoryStore()
    assert invoke_outbox(store, "init", "--partitions", "4").exit_code == 0
    writer = Writer(store)
    ids = [writer.create(f"gw{n}", SPEC).id for n in range(60)]  # every partition gets some
    writer.stop(ids[0])
    writer.update(ids[1], replicas=2)

    gateways, events = expected_partitions(store, 4)
    assert stamped(store, GATEWAYS) == gateways
    assert stamped(store, OUTBOX) == events
    assert len(events) == 62
    assert {writer.get(i).partition for i in ids} == set(range(4))


def test_without_a_recorded_count_everything_is_partition_0() -> None:
    store = MemoryStore()
    gateway = Writer(store).create("edge", SPEC)
    assert gateway.partition == 0
    assert set(stamped(store, OUTBOX).values()) == {0}


def test_running_init_again_without_partitions_keeps_the_recorded_count() -> None:
    store = MemoryStore()
    assert invoke_outbox(store, "init", "--partitions", "3").exit_code == 0
    result = invoke_outbox(store, "init", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["partitions"] == 3
    assert partition_count(store) == 3


def test_changing_p_while_events_are_unpublished_exits_3_and_changes_nothing(
    world: World,
) -> None:
    assert invoke_outbox(world.store, "init", "--partitions", "8").exit_code == 0
    for n in range(5):
        world.writer.create(f"gw{n}", SPEC)
    before_gateways, before_events = stamped(world.store, GATEWAYS), stamped(world.store, OUTBOX)
    record = read_record(world.store)

    result = invoke_outbox(world.store, "init", "--partitions", "2", stream=world.stream)

    assert result.exit_code == 3, result.output
    error_lines = [line for line in result.output.splitlines() if "partition count" in line]
    assert len(error_lines) == 1 and "5 outbox event(s) unpublished" in error_lines[0]
    assert read_record(world.store) == record
    assert stamped(world.store, GATEWAYS) == before_gateways
    assert stamped(world.store, OUTBOX) == before_events


def test_changing_p_while_entries_of_the_one_stream_are_unacked_exits_3(world: World) -> None:
    for n in range(3):
        world.writer.create(f"gw{n}", SPEC)
    world.publish()  # into the one stream of a release before partitions, not yet read

    result = invoke_outbox(world.store, "init", "--partitions", "2", stream=world.stream)

    assert result.exit_code == 3, result.output
    assert "3 stream entries unacked" in result.output
    assert read_record(world.store) is None


def test_changing_p_while_entries_of_partition_streams_are_unacked_exits_3() -> None:
    store = MemoryStore()
    assert invoke_outbox(store, "init", "--partitions", "4").exit_code == 0
    world = World(FakeClock(utcnow()), store=store)
    try:
        for n in range(3):
            world.writer.create(f"gw{n}", SPEC)
        world.publish()  # into the partitions' streams, not yet read

        result = invoke_outbox(store, "init", "--partitions", "2", stream=world.stream)
    finally:
        world.close()

    assert result.exit_code == 3, result.output
    assert "3 stream entries unacked" in result.output
    assert partition_count(store) == 4


def test_an_upgraded_deployment_once_drained_moves_every_gateway_and_event_to_its_partition(
    world: World,
) -> None:
    for n in range(12):
        world.writer.create(f"gw{n}", SPEC, stopped=n % 2 == 0)
    settle_and_drain(world)  # by the daemons of a release before partitions: one stream

    result = invoke_outbox(world.store, "init", "--partitions", "3", stream=world.stream)

    assert result.exit_code == 0, result.output
    assert "partitions: 1 -> 3" in result.output
    assert partition_count(world.store) == 3
    gateways, events = expected_partitions(world.store, 3)
    assert stamped(world.store, GATEWAYS) == gateways
    assert stamped(world.store, OUTBOX) == events
    # A gateway created from now on (by a writer started after the change) gets the new count.
    new = Writer(world.store).create("late", SPEC)
    assert new.partition == partition_of(new.id, 3)


def test_init_gives_documents_of_an_older_release_their_partition_and_leaves_malformed_ones() -> (
    None
):
    store = MemoryStore()
    Writer(store).create("old", SPEC)
    # As an older release wrote them: no partition field; and one document that is no event.
    store.collection(GATEWAYS).update_many({}, {"$unset": {"partition": ""}})
    store.collection(OUTBOX).update_many({}, {"$unset": {"partition": "", "published_at": ""}})
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": utcnow()}})
    store.collection(OUTBOX).insert_one({"_id": "junk", "aggregate_id": 42, "published_at": 1})

    result = invoke_outbox(store, "init", stream=MemoryStream())

    assert result.exit_code == 0, result.output
    gateway_id = UnitOfWork(store).gateways.list()[0].id
    assert stamped(store, GATEWAYS) == {gateway_id: partition_of(gateway_id, 8)}
    events = stamped(store, OUTBOX)
    assert events.pop("junk") is None
    assert set(events.values()) == {partition_of(gateway_id, 8)}


def test_the_writer_reads_the_count_again_once_its_few_seconds_are_up() -> None:
    store = MemoryStore()
    now = [0.0]
    cached = CachedCount(store, ttl=5, monotonic=lambda: now[0])
    assert cached.count() == 1
    write_record(store, 8, at=utcnow())
    now[0] = 4.9
    assert cached.count() == 1, "read again only after the ttl: one round trip per 5 s"
    now[0] = 5.0
    assert cached.count() == 8


def test_init_gives_a_gateway_stamped_under_an_older_count_its_partition() -> None:
    store = MemoryStore()
    assert invoke_outbox(store, "init", "--partitions", "8").exit_code == 0
    gateway = Writer(store).create("edge", SPEC)
    wrong = (partition_of(gateway.id, 8) + 1) % 8  # as a writer still on another P stamped it
    store.collection(GATEWAYS).update_many({}, {"$set": {"partition": wrong}})
    store.collection(OUTBOX).update_many({}, {"$set": {"partition": wrong}})

    result = invoke_outbox(store, "init")

    assert result.exit_code == 0, result.output
    assert (
        "partitions: 8 (unchanged); partitions given to 1 gateway(s), 1 event(s)" in result.output
    )
    assert stamped(store, GATEWAYS) == {gateway.id: partition_of(gateway.id, 8)}
