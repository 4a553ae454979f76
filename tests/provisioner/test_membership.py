"""Consumer names and heartbeats: two provisioners never share a name, and entries left pending
by a consumer with no live heartbeat are taken over at once, not after OUTBOX_RECLAIM_IDLE.
The heartbeat record itself is checked against every store adapter."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from outbox.coordination.membership import MISSED_BEATS, Membership
from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import MEMBERS
from provisioner.settings import ProvisionerSettings
from tests.support.clock import FakeClock
from tests.support.world import World, fake_time_provisioner

GROUP = "provisioner"


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=2)
    yield world
    world.close()


def beating(world: World, name: str) -> Membership:
    membership = Membership(
        world.store, role="provisioner", name=name, interval=5, clock=world.clock
    )
    membership.beat()
    return membership


def left_pending_by(world: World, consumer: str, *gateways: str) -> None:
    """`consumer` read the entries of these new gateways and never acked them."""
    for name in gateways:
        world.writer.create(name, {"image": "nginx:1.27"})
    world.publish()
    stream = world.consumer(consumer)
    stream.ensure_group()
    stream.read_new(count=1000, block_ms=None)


def pending_of(world: World, consumer: str) -> int:
    return sum(info.pending for info in world.stream.consumers() if info.name == consumer)


# -- names ----------------------------------------------------------------------------------------


def test_two_provisioners_started_on_one_host_get_different_consumer_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUTBOX_CONSUMER", raising=False)
    read, write = os.pipe()
    child = os.fork()  # a second process on this host, as `honcho start -c provisioner=2` makes
    if child == 0:
        os.write(write, ProvisionerSettings(_env_file=None).consumer.encode())  # type: ignore[call-arg]
        os._exit(0)
    os.waitpid(child, 0)
    names = [ProvisionerSettings(_env_file=None).consumer, os.read(read, 1024).decode()]  # type: ignore[call-arg]
    os.close(read)
    os.close(write)

    assert names[0] != names[1]
    assert names[0].rsplit("-", 1) == [socket.gethostname(), str(os.getpid())]


# -- takeover -------------------------------------------------------------------------------------


def test_a_dead_predecessors_pending_entries_are_handled_on_the_first_turn(world: World) -> None:
    left_pending_by(world, "crashed", "edge", "core")  # it died: no heartbeat at all
    daemon = fake_time_provisioner(world, "successor")  # reclaim_idle is 30 s

    daemon.run_once(block_ms=None)
    daemon.wait_idle(5)

    assert pending_of(world, "crashed") == 0
    assert world.pending() == 0
    assert daemon.totals.acked == 2
    assert {world.gateway(name).phase for name in ("edge", "core")} == {Phase.STARTING}


def test_a_consumer_whose_heartbeat_stopped_a_few_beats_ago_is_taken_over(world: World) -> None:
    beating(world, "frozen")
    left_pending_by(world, "frozen", "edge")
    world.clock.advance(5 * MISSED_BEATS + 1)

    successor = world.provisioner("successor")  # started: it beats, joins and takes over
    successor.wait_idle(5)

    assert pending_of(world, "frozen") == 0
    assert world.gateway("edge").phase == Phase.STARTING


def test_a_live_consumers_pending_entries_are_not_taken(world: World) -> None:
    beating(world, "busy")
    left_pending_by(world, "busy", "edge")
    world.clock.advance(5)  # within its missed beats

    daemon = fake_time_provisioner(world, "other")
    daemon.run_once(block_ms=None)
    daemon.wait_idle(5)

    assert pending_of(world, "busy") == 1
    assert daemon.totals.acked == 0  # the gateway itself is the sweep's, whoever holds the entry


def test_a_clean_shutdown_removes_the_heartbeat_record(world: World) -> None:
    daemon = world.provisioner("leaving")
    membership = Membership(
        world.store, role="provisioner", name="x", interval=5, clock=world.clock
    )
    assert [member.name for member in membership.live()] == ["leaving"]

    daemon.stop()
    daemon.shutdown()

    assert membership.live() == []


# -- the record, against every store --------------------------------------------------------------


def test_a_member_is_live_until_it_misses_its_beats_or_leaves(
    any_store: MemoryStore | MongoStore, clock: FakeClock
) -> None:
    any_store.collection(MEMBERS).delete_many({})
    one = Membership(any_store, role="provisioner", name="one", interval=5, clock=clock, pid=11)
    two = Membership(any_store, role="provisioner", name="two", interval=5, clock=clock)
    relay = Membership(any_store, role="relay", name="one", interval=5, clock=clock)
    at = one.beat()
    two.beat()
    relay.beat()

    members = one.live()
    assert [(member.name, member.pid, member.last_beat) for member in members[:1]] == [
        ("one", 11, at)
    ]
    assert [member.name for member in members] == ["one", "two"]  # relays are another role

    clock.advance(5 * MISSED_BEATS - 1)
    two.beat()
    assert [member.name for member in one.live()] == ["one", "two"]
    clock.advance(2)
    assert [member.name for member in one.live()] == ["two"]

    two.leave()
    assert one.live() == []
