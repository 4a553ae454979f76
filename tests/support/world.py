"""A small world for provisioner tests: store, stream, memory cluster, writer, fake clock.

The stream is the in-memory one, or Redis itself when a test gives `redis=` (faults on the
wire). Events reach the stream through the real relay, and the provisioner is driven turn by
turn (`step()`), never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from outbox.domain.events import EventType
from outbox.domain.model import Gateway
from outbox.store.memory.store import MemoryStore
from outbox.store.port import Store
from outbox.store.repository import UnitOfWork
from outbox.stream import DeadLetter, Entry, EventStream, StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.support.clock import FakeClock, monotonic_of

STREAM = "events:gateway"
GROUP = "provisioner"


def provisioner_settings(**overrides: Any) -> ProvisionerSettings:
    values: dict[str, Any] = {
        "stream": STREAM,
        "workers": 4,
        "consumer": "p1",
        "start_timeout": 60,
        "stop_timeout": 60,
        "delete_timeout": 60,
        "reclaim_idle": 30,
        "handler_deadline": 10,
        "sweep_interval": 1,
        "resync_interval": 1,
        "cluster_cache": "off",  # turn-by-turn tests poll; the watch tests turn the cache on
        "backoff_base": 1,
        "backoff_cap": 8,
        "grace_seconds": 5,
        "metrics_port": 0,
    }
    values.update(overrides)
    if "reclaim_idle" in overrides and "handler_deadline" not in overrides:
        values["handler_deadline"] = overrides["reclaim_idle"] / 2  # reclaiming at once
    return ProvisionerSettings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class World:
    clock: FakeClock
    redis: redis.Redis | None = None  # None: the in-memory stream
    store: Store = field(default_factory=MemoryStore)
    rollout_seconds: float = 5.0

    def __post_init__(self) -> None:
        config = StreamConfig(stream=STREAM, group=GROUP)
        self.stream: EventStream = (
            # Idle times of pending entries pass with the fake clock, as everything else does.
            MemoryStream(config, monotonic=monotonic_of(self.clock))
            if self.redis is None
            else RedisStream(self.redis, config)
        )
        self.cluster = MemoryCluster(
            namespace="gateways", rollout_seconds=self.rollout_seconds, clock=self.clock
        )
        self.writer = Writer(self.store, clock=self.clock)
        self.relay = build_relay(
            RelaySettings(_env_file=None, stream=STREAM, metrics_port=0, relay_id="relay-test"),  # type: ignore[call-arg]
            store=self.store,
            stream=self.stream,
            clock=self.clock,
        )
        self.provisioners: dict[str, Provisioner] = {}

    def provisioner(self, consumer: str = "p1", **overrides: Any) -> Provisioner:
        if consumer not in self.provisioners:
            settings = provisioner_settings(consumer=consumer, **overrides)
            daemon = build_provisioner(
                settings,
                store=self.store,
                stream=self.stream,
                cluster=self.cluster,
                clock=self.clock,
            )
            daemon.start()
            self.provisioners[consumer] = daemon
        return self.provisioners[consumer]

    def publish(self) -> None:
        """Everything committed so far, into the stream, through the real relay."""
        self.relay.run_once()

    def step(self, consumer: str = "p1", *, sweep: bool = True) -> None:
        """One turn: publish, consume what is new, wait for the workers, optionally sweep."""
        daemon = self.provisioner(consumer)
        self.publish()
        daemon.run_once(block_ms=None)
        daemon.wait_idle(10)
        if sweep:
            daemon.sweep()
            daemon.wait_idle(10)
        self.publish()

    def settle(self, consumer: str = "p1", *, turns: int = 12, tick: float = 1.0) -> Gateway | None:
        """Turn until nothing changes, letting fake time pass so rollouts finish."""
        for _ in range(turns):
            self.step(consumer)
            self.clock.advance(tick)
        return None

    def gateway(self, ref: str) -> Gateway:
        return self.writer.get(ref)

    def events(self, ref: str) -> list[EventType]:
        return [event.type for event in self.writer.events(ref)]

    def environments(self, ref: str) -> dict[str, str]:
        uow = UnitOfWork(self.store)
        return {env.name: str(env.state) for env in uow.environments.of(self.gateway(ref).id)}

    def stream_event_ids(self) -> list[str]:
        return [fields["event_id"] for _, fields in self.stream.entries()]

    def consumer(self, name: str) -> EventStream:
        """The group's stream as consumer `name` sees it."""
        return self.stream.with_config(StreamConfig(stream=STREAM, group=GROUP, consumer=name))

    def pending(self) -> int:
        """Entries delivered to the group and not acked."""
        group = self.stream.status().group
        return group.pending if group else 0

    def add_entry(self, fields: dict[str, str]) -> str:
        """Raw fields into the stream, as a foreign writer would put them."""
        return self.stream.add(fields)  # type: ignore[attr-defined, no-any-return]

    def delete_entries(self, *entry_ids: str) -> None:
        self.stream.delete(*entry_ids)  # type: ignore[attr-defined]

    def dead_letters(self) -> list[DeadLetter]:
        """Oldest first."""
        return list(reversed(self.stream.latest_dead_letters(1000)))

    def entries(self) -> list[Entry]:
        return self.stream.entries()

    def close(self) -> None:
        for daemon in self.provisioners.values():
            daemon.stop()
            daemon.shutdown()


# -- daemons on fake time -------------------------------------------------------------------------


class Waits:
    """The wait injected into a daemon run by `run()`, which waits once after every turn: it
    records every wait, lets that much fake time pass (at least `tick`, so rollouts progress),
    lets the workers finish (so each turn sees the previous turn's work), runs what the test
    scheduled for that wait, and stops the daemon after `limit` waits."""

    def __init__(self, clock: FakeClock, *, limit: int, tick: float = 1.0) -> None:
        self.clock = clock
        self.limit = limit
        self.tick = tick
        self.seen: list[float] = []
        self.daemon: Provisioner | None = None
        self.at: dict[int, Callable[[], None]] = {}

    def __call__(self, seconds: float) -> None:
        assert self.daemon is not None
        self.seen.append(seconds)
        self.daemon.wait_idle(10)
        self.clock.advance(max(seconds, self.tick))
        if (action := self.at.get(len(self.seen))) is not None:
            action()
        if len(self.seen) >= self.limit:
            self.daemon.stop()


def fake_time_provisioner(
    world: World, consumer: str = "p1", *, waits: Waits | None = None, **overrides: Any
) -> Provisioner:
    """A provisioner on the world's fake clock, built but not started (as `run()` finds it)."""
    daemon = build_provisioner(
        provisioner_settings(consumer=consumer, **overrides),
        store=world.store,
        stream=world.stream,
        cluster=world.cluster,
        clock=world.clock,
        monotonic=monotonic_of(world.clock),
        wait=waits,
    )
    if waits is not None:
        waits.daemon = daemon
    world.provisioners[consumer] = daemon  # shut down with the world
    return daemon
