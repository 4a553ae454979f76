"""A small world for provisioner tests: store, stream, memory cluster, writer, fake clock.

The stream is the in-memory one, or Redis itself when a test gives `redis=` (faults on the
wire). Events reach the stream through the real relay, and the provisioner is driven turn by
turn (`step()`), never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from outbox.events import EventType
from outbox.memory_store import MemoryStore
from outbox.model import Gateway
from outbox.repository import UnitOfWork
from outbox.store import Collections, Store
from outbox.stream import DeadLetter, Entry, EventStream, StreamConfig
from outbox.stream.memory import MemoryStream
from outbox.stream.redis_stream import RedisStream
from outbox.writer import Writer
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.memory_cluster import MemoryCluster
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.conftest import FakeClock

STREAM = "events:gateway"
GROUP = "provisioner"
T = TypeVar("T")


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
        origin = self.clock.now
        self.stream: EventStream = (
            # Idle times of pending entries pass with the fake clock, as everything else does.
            MemoryStream(config, monotonic=lambda: (self.clock.now - origin).total_seconds())
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


class Crash(Exception):
    """A process dying at an exact point: whatever it had not done yet stays undone."""


class CrashingStore:
    """The store, but the next N transactions die before they commit."""

    def __init__(self, inner: Store, *, crashes: int = 0) -> None:
        self._inner = inner
        self.crashes = crashes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transaction(self, work: Callable[[Collections], T]) -> T:
        if self.crashes:
            self.crashes -= 1
            raise Crash("died after the cluster call, before the commit")
        return self._inner.transaction(work)
