"""The provisioner daemon as a whole: several at once, a vanished group, idle consumers, shutdown,
and `outbox provisioner run --once` as a real process."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from outbox.domain.model import Phase
from outbox.store.mongo.store import MongoStore
from outbox.writer import Writer
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.reconciler import Outcome
from tests.support.cli import clean_env, run_outbox
from tests.support.clock import FakeClock
from tests.support.servers import NxServer, RedisServer
from tests.support.world import STREAM, World, provisioner_settings


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=2)
    yield world
    world.close()


@pytest.fixture
def redis_world(redis_client: redis.Redis, clock: FakeClock) -> Iterator[World]:
    """On Redis itself: its group is destroyed by hand, and entry times are the server's."""
    world = World(redis=redis_client, clock=clock, rollout_seconds=2)
    yield world
    world.close()


def test_several_provisioners_at_once_converge_every_gateway_without_duplicate_events(
    world: World,
) -> None:
    for n in range(12):
        world.writer.create(f"g{n}", {"image": "nginx:1.27"})
    daemons = [world.provisioner(consumer) for consumer in ("a", "b", "c")]

    def turn(daemon: Provisioner) -> None:
        daemon.run_once(block_ms=None)
        daemon.wait_idle(10)
        daemon.sweep()  # every one of them sweeps every gateway: compare-and-set sorts it out
        daemon.wait_idle(10)

    for _ in range(8):
        world.publish()
        threads = [threading.Thread(target=turn, args=(daemon,)) for daemon in daemons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        world.clock.advance(1)

    for gateway in world.writer.list():
        assert gateway.phase == Phase.STARTED, gateway.name
        counts = Counter(world.events(gateway.id))
        assert all(count == 1 for count in counts.values()), (gateway.name, counts)
    assert sum(daemon.totals.acked for daemon in daemons) == len(world.stream_event_ids())


def test_a_consumer_group_that_vanished_is_recreated_and_nothing_is_missed(
    redis_world: World,
) -> None:
    daemon = redis_world.provisioner()
    redis_world.redis.xgroup_destroy(STREAM, "provisioner")
    redis_world.writer.create("edge", {"image": "nginx:1.27"})
    redis_world.publish()

    daemon.run_once(block_ms=None)
    daemon.wait_idle(5)
    assert redis_world.redis.xinfo_groups(STREAM)[0]["name"] == "provisioner"
    redis_world.settle()
    assert redis_world.gateway("edge").phase == Phase.STARTED


def test_idle_consumers_with_nothing_pending_are_removed(world: World) -> None:
    world.provisioner("long-gone")
    world.consumer("long-gone").read_new(count=1, block_ms=None)
    daemon = world.provisioner("p1", consumer_idle=0.001)
    world.clock.advance(1)  # idle longer than consumer_idle
    daemon.reclaim()
    names = {info.name for info in world.stream.consumers()}
    assert "long-gone" not in names


def test_shutdown_leaves_what_was_not_started_pending_for_another_consumer(world: World) -> None:
    for n in range(3):
        world.writer.create(f"g{n}", {"image": "nginx:1.27"})
    world.publish()
    daemon = world.provisioner("leaving", workers=1)
    began, gate = threading.Event(), threading.Event()
    original = daemon._pool._handle

    def slow(gateway_id: str) -> Outcome:  # a slow cluster: the pass in hand waits for the gate
        began.set()
        gate.wait(5)
        return original(gateway_id)

    daemon._pool._handle = slow
    daemon.sweep()  # hands the three gateways over; the one worker takes the first
    assert began.wait(5)
    daemon.run_once(block_ms=None)  # so every entry arrives after the pass in hand began
    threading.Timer(0.1, gate.set).start()
    daemon.stop()
    daemon.shutdown()
    # The gateway in hand was finished; nothing else was started, and no entry was acked
    # (each arrived after the pass in hand began, so that pass does not answer for it).
    assert sorted(g.phase for g in world.writer.list()) == [
        Phase.CREATED,
        Phase.CREATED,
        Phase.STARTING,
    ]
    assert world.pending() == 3

    world.clock.advance(1)  # idle time on the stand-in follows the fake clock
    rescuer = world.provisioner("rescuer", reclaim_idle=0.001)
    rescuer.reclaim()
    rescuer.wait_idle(5)
    assert world.pending() == 0
    world.settle("rescuer")
    assert {g.phase for g in world.writer.list()} == {Phase.STARTED}


def test_run_once_as_a_process_starts_a_gateway_and_exits_zero(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> None:
    created = Writer(nx_store).create("edge", {"image": "nginx:1.27"})
    env = clean_env(
        OUTBOX_MONGODB_URI=nx_server.uri,
        OUTBOX_REDIS_URL=redis_server.url,
        OUTBOX_MEMORY_ROLLOUT="0",
        OUTBOX_WORKERS="1",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_outbox(*args, env=env, cwd=tmp_path)

    relayed = run("relay", "run", "--once")
    assert relayed.returncode == 0, relayed.stderr
    provisioned = run("--log-format", "json", "provisioner", "run", "--once", "--cluster", "memory")
    assert provisioned.returncode == 0, provisioned.stderr
    assert "1 acked" in provisioned.stdout
    logged = [json.loads(line) for line in provisioned.stderr.splitlines()]
    assert any(
        entry["logger"] == "provisioner.reconciler" and created.id in entry["message"]
        for entry in logged
    )
    assert nx_store.database["gateways"].find_one({"_id": created.id})["phase"] == Phase.STARTED


def test_an_unreachable_redis_is_exit_code_6_with_one_line(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    env = clean_env(
        OUTBOX_MONGODB_URI=nx_server.uri,
        OUTBOX_REDIS_URL=f"unix://{tmp_path}/nothing-here.sock",
    )
    result = run_outbox(
        "provisioner", "run", "--once", "--cluster", "memory", env=env, cwd=tmp_path
    )
    assert result.returncode == 6
    assert result.stderr.strip().splitlines()[-1].startswith("error: Redis is unreachable")
    assert "Traceback" not in result.stderr


def test_metrics_count_what_the_provisioner_did(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.add_entry({"garbage": "x"})
    world.step()
    metrics = world.provisioner().metrics

    def value(name: str, **labels: str) -> float:
        sample = metrics.registry.get_sample_value(name, labels)
        return 0.0 if sample is None else sample

    assert (
        value("outbox_provisioner_events_handled_total", type="GatewayCreated", outcome="acked")
        == 1
    )
    assert value("outbox_provisioner_dead_lettered_total", reason="unparsable") == 1
    assert value("outbox_provisioner_steps_total", phase="Started") == 1
    assert value("outbox_gateways", phase="Started") == 1
    assert value("outbox_provisioner_reconcile_seconds_count") >= 2


def test_the_grace_period_counts_from_stop_and_the_rest_stays_pending(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a gateway in hand whose cluster never answers in time
    world.writer.create("slow", {"image": "nginx:1.27"})
    world.publish()
    now = [0.0]
    daemon = build_provisioner(
        provisioner_settings(consumer="leaving", workers=1, grace_seconds=5),
        store=world.store,
        stream=world.stream,
        cluster=world.cluster,
        clock=world.clock,
        monotonic=lambda: now[0],
    )
    world.provisioners["leaving"] = daemon
    started, gate = threading.Event(), threading.Event()
    original = daemon._pool._handle

    def stuck(gateway_id: str) -> Outcome:
        started.set()
        gate.wait(5)
        return original(gateway_id)

    daemon._pool._handle = stuck
    daemon.start()
    daemon.run_once(block_ms=None)
    assert started.wait(5)

    # When it is stopped, and the grace period is over by the time the loop comes round
    daemon.stop()
    now[0] += 6
    with caplog.at_level(logging.INFO, logger="provisioner"):
        daemon.shutdown()  # does not wait: nothing of the grace period is left
    gate.set()

    # Then it left without the entry acked: another consumer reclaims it
    assert any("grace period over" in r.getMessage() for r in caplog.records)
    assert daemon.totals.acked == 0
    assert world.pending() == 1
