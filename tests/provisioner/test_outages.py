"""Outages of one backend delay only what needs it.

The sweep and its timeouts need only MongoDB and the cluster: they go on while Redis is down,
also in a provisioner that starts during the outage. Every wait while a backend is down is at
most OUTBOX_PROBE_INTERVAL (the waits back off as the relay's do), and each outage is logged
once when it starts, once when it ends, and counted. Redis is a private redis-server that the
tests stop; time is fake and every wait of the daemon goes through an injected wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from outbox.domain.errors import BackendUnavailable
from outbox.domain.model import Phase, State
from outbox.store.memory.store import MemoryStore
from outbox.store.port import Collection, Collections, T
from provisioner.daemon import Provisioner
from tests.support.clock import FakeClock
from tests.support.servers import RedisServer
from tests.support.stores import DelegatingStore
from tests.support.world import STREAM, Waits, World, fake_time_provisioner


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def world(own_redis: RedisServer, clock: FakeClock) -> Iterator[World]:
    client = redis.Redis.from_url(
        own_redis.url, decode_responses=True, socket_timeout=2, socket_connect_timeout=1
    )
    world = World(redis=client, clock=clock, store=SwitchableStore(), rollout_seconds=2)
    yield world
    world.close()
    client.close()


class SwitchableStore(DelegatingStore):
    """The in-memory store with a switch: while `down`, every call fails as an outage would."""

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.down = False

    def collection(self, name: str) -> Collection:
        return _Switched(self, self.inner.collection(name))  # type: ignore[return-value]

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self.check()
        return self.inner.transaction(work)

    def ping(self) -> None:
        self.check()

    @property
    def description(self) -> str:
        return "switchable memory store"

    def check(self) -> None:
        if self.down:
            raise BackendUnavailable("MongoDB at memory:// is unreachable: switched off")


class _Switched:
    def __init__(self, store: SwitchableStore, inner: Collection) -> None:
        self._store = store
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._store.check()
            return method(*args, **kwargs)

        return call


def outages(daemon: Provisioner, backend: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(
        "outbox_provisioner_backend_outages_total", {"backend": backend}
    )


def turn(daemon: Provisioner, world: World, seconds: float) -> None:
    """Let fake time pass, then one turn of the loop, and let the workers finish it."""
    world.clock.advance(seconds)
    daemon.run_once(block_ms=None)
    daemon.wait_idle(10)


# -- the sweep goes on while Redis is down --------------------------------------------------------


def test_while_redis_is_down_rollouts_complete_and_start_timeouts_fire(
    world: World, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    world.cluster.stall_rollouts("stuck")
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.writer.create("stuck", {"image": "nginx:1.27"})
    daemon = fake_time_provisioner(world)
    turn(daemon, world, 0)
    assert {world.gateway(name).phase for name in ("edge", "stuck")} == {Phase.STARTING}

    own_redis.stop()
    # Longer than the reclaim interval (reclaim_idle / 2): a reclaim is due on every turn.
    for _ in range(20):
        turn(daemon, world, 1)
    assert world.gateway("edge").phase == Phase.STARTED
    assert own_redis.process is None  # all of it happened while Redis was still down

    for _ in range(45):  # past the 60 s start timeout
        turn(daemon, world, 1)
    stuck = world.gateway("stuck")
    assert stuck.state == State.STOPPED
    assert stuck.phase in (Phase.STOPPING, Phase.STOPPED)
    assert stuck.last_error is not None and stuck.last_error.reason == "StartTimeout"
    assert own_redis.process is None

    with caplog.at_level(logging.INFO, logger="provisioner"):
        own_redis.start()
        turn(daemon, world, 1)
        turn(daemon, world, 1)
    lines = [record.getMessage() for record in caplog.records]
    assert len([line for line in lines if line.startswith("Redis reachable again")]) == 1
    assert outages(daemon, "redis") == 1
    assert outages(daemon, "mongodb") == 0


def test_a_provisioner_started_while_redis_is_down_sweeps_and_joins_its_group_once_it_is_back(
    world: World, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    own_redis.stop()
    waits = Waits(world.clock, limit=12)
    waits.at[10] = own_redis.start
    daemon = fake_time_provisioner(world, waits=waits, probe_interval=2)

    with caplog.at_level(logging.INFO, logger="provisioner"):
        daemon.run()

    assert world.events("edge")[-2:] == ["GatewayStarting", "GatewayStarted"]
    assert world.gateway("edge").phase == Phase.STARTED
    assert max(waits.seen[:10]) <= 2
    # Redis came back at the tenth wait: the provisioner joined its group then.
    assert world.redis.xinfo_groups(STREAM)[0]["name"] == "provisioner"
    assert outages(daemon, "redis") == 1
    lines = [record.getMessage() for record in caplog.records]
    assert len([line for line in lines if line.startswith("Redis unavailable")]) == 1
    assert len([line for line in lines if line.startswith("Redis reachable again")]) == 1


# -- waits while a backend is down ----------------------------------------------------------------


def test_while_redis_is_down_the_waits_back_off_up_to_the_probe_interval(
    world: World, own_redis: RedisServer
) -> None:
    own_redis.stop()
    waits = Waits(world.clock, limit=8)
    daemon = fake_time_provisioner(
        world, waits=waits, probe_interval=0.5, sweep_interval=30, heartbeat_interval=30
    )

    daemon.run()

    # Doubling from 0.1 s to the probe interval, half of each wait fixed and half jitter: never
    # longer than the interval, and no spinning either.
    nominal = [0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert len(waits.seen) == len(nominal)
    for wait, longest in zip(waits.seen, nominal, strict=True):
        assert longest / 2 <= wait <= longest
    assert outages(daemon, "redis") == 1


def test_while_mongodb_answers_a_redis_outage_never_delays_the_sweep_or_heartbeat(
    world: World, own_redis: RedisServer
) -> None:
    own_redis.stop()
    waits = Waits(world.clock, limit=6, tick=0.01)
    daemon = fake_time_provisioner(
        world, waits=waits, probe_interval=300, sweep_interval=1, heartbeat_interval=30
    )

    daemon.run()

    # The back-off would reach 1.6 s by the sixth wait; the next sweep is never more than 1 s off.
    assert max(waits.seen) <= 1.0
    assert outages(daemon, "redis") == 1


def test_while_mongodb_is_down_nothing_is_read_and_everything_is_handled_once_it_is_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    store = world.store
    assert isinstance(store, SwitchableStore)
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.publish()
    store.down = True
    waits = Waits(world.clock, limit=10)
    waits.at[6] = lambda: setattr(store, "down", False)
    daemon = fake_time_provisioner(world, waits=waits, probe_interval=1.5)

    with caplog.at_level(logging.INFO, logger="provisioner"):
        daemon.run()

    # While MongoDB was down the entry stayed in the stream, unread: no delivery was wasted.
    assert max(waits.seen[:6]) <= 1.5
    assert outages(daemon, "mongodb") == 1
    assert outages(daemon, "redis") == 0
    assert world.redis.xpending(STREAM, "provisioner")["pending"] == 0
    assert daemon.totals.acked == 1 and daemon.totals.failed == 0
    assert world.gateway("edge").phase == Phase.STARTED
    lines = [record.getMessage() for record in caplog.records]
    assert len([line for line in lines if line.startswith("MongoDB unavailable")]) == 1
    assert len([line for line in lines if line.startswith("MongoDB reachable again")]) == 1
