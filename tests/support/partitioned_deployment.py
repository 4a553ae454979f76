"""Relays and provisioners as threads of this process, on one store, one stream and one
cluster, each killable without cleanup: the end-to-end runs of a partitioned deployment."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from outbox.domain.model import Phase
from outbox.store.port import Store
from outbox.store.repository import UnitOfWork
from outbox.stream import EventStream, StreamConfig
from outbox.stream.keys import partition_streams
from provisioner.cluster.port import Cluster
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from relay.daemon import Relay
from relay.factory import build_relay
from tests.support.killing import Killed, KillSwitch, killable_store, killable_stream
from tests.support.reconcile_recorder import ReconcileRecorder
from tests.support.relay import relay_settings
from tests.support.world import provisioner_settings

LEASE = 2.0  # relay and partition leases: takeovers within seconds


@dataclass
class _Running:
    daemon: Relay | Provisioner
    thread: threading.Thread
    switch: KillSwitch


@dataclass
class Deployment:
    store: Store
    stream: EventStream
    cluster: Cluster
    recorder: ReconcileRecorder = field(default_factory=ReconcileRecorder)
    running: dict[str, _Running] = field(default_factory=dict)

    def relay(self, name: str, **overrides: Any) -> Relay:
        switch = KillSwitch()
        settings = relay_settings(relay_id=name, lease_seconds=LEASE, batch_size=100, **overrides)
        daemon = build_relay(
            settings,
            store=killable_store(self.store, switch),
            stream=killable_stream(self.stream, switch),
            change_streams=False,
        )
        self._start(name, daemon, switch)
        return daemon

    def provisioner(self, name: str, **overrides: Any) -> Provisioner:
        switch = KillSwitch()
        settings = provisioner_settings(
            consumer=name,
            heartbeat_interval=LEASE / 4,
            partition_lease_seconds=LEASE,
            sweep_interval=0.5,
            resync_interval=5,
            reclaim_idle=5,
            **overrides,
        )
        daemon = build_provisioner(
            settings,
            store=killable_store(self.store, switch),
            stream=killable_stream(self.stream, switch),
            cluster=self.cluster,
            wait=switch.wait,
        )
        self.recorder.attach(name, daemon)
        self._start(name, daemon, switch)
        return daemon

    def _start(self, name: str, daemon: Relay | Provisioner, switch: KillSwitch) -> None:
        def run() -> None:
            with contextlib.suppress(Killed):  # killed: the thread just ends
                daemon.run()

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.running[name] = _Running(daemon, thread, switch)
        thread.start()

    def kill(self, name: str) -> None:
        """Without any cleanup: every thread of the daemon dies at its next MongoDB or Redis
        call, leases held and entries pending."""
        self.running.pop(name).switch.throw()

    def stop(self, name: str) -> None:
        """A clean stop: in-flight work finishes, leases are handed back."""
        running = self.running.pop(name)
        running.daemon.stop()
        running.thread.join(timeout=30)
        assert not running.thread.is_alive(), f"{name} did not stop"

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)

    # -- what a test looks at ---------------------------------------------------------------------

    def owned(self, name: str) -> set[int]:
        """The partitions a running daemon owns now."""
        daemon = self.running[name].daemon
        if isinstance(daemon, Relay):
            return set(daemon.lease.ownership.owned())  # type: ignore[union-attr]
        work = daemon._partitions
        assert work is not None
        return set(work.ownership.owned())

    def phases(self, ids: list[str]) -> Counter[str]:
        gateways = UnitOfWork(self.store).gateways
        return Counter(str(gateway.phase) for i in ids if (gateway := gateways.get(i)))

    def all_in(self, ids: list[str], phase: Phase) -> bool:
        return self.phases(ids)[str(phase)] == len(ids)

    def settled(self, partitions: int) -> bool:
        """Everything published, and every entry of every partition acked."""
        if UnitOfWork(self.store).events.backlog():
            return False
        for name in partition_streams(STREAM, partitions):
            group = self.stream.with_config(StreamConfig(stream=name)).status(latest=1).group
            if group is not None and (group.pending or group.lag):
                return False
        return True


STREAM = "events:gateway"
