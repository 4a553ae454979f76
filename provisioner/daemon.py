"""The provisioner daemon: reads its partitions of the stream, hands gateways to the pool, sweeps.

`run()` only loops over `run_once()` until `stop()`; `drain()` is `--once`. A turn has a MongoDB
half (heartbeat, partitions, sweep) and a Redis half (the readers the loop turns), guarded
apart: the sweep and its timeouts need only MongoDB and the cluster, so a Redis outage delays
only what needs Redis. Reading, claiming, acking and dead-lettering are the readers'
(`provisioner.partition_work`, `provisioner.partition_reader`) and the consumer half's
(`provisioner.consumer`). With the cluster cache, watch events queue the gateway their object is
labelled with, deadlines are timers (`provisioner.timers`), and the sweep and the resync judge
against the cache. An outage backs off as the relay's does (`outbox.runtime.outages`), and
`stop()` follows the shutdown rule of `outbox_cli.signals.stop_within_grace`.
"""

from __future__ import annotations

import logging
import random as random_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import BackendUnavailable
from outbox.runtime.outages import MONGODB, REDIS, Outages
from outbox.stream import EventStream
from provisioner.cluster.informer import Informer
from provisioner.cluster.port import WatchEvent, gateway_of
from provisioner.consumer import Consumer, Done
from provisioner.heartbeat import Heartbeat
from provisioner.metrics import TIMER, WATCH, ProvisionerMetrics
from provisioner.pacing import Pacing
from provisioner.partition_reader import ReaderParts
from provisioner.partition_work import Partitioning, PartitionWork
from provisioner.pool import KeyedPool
from provisioner.reconciler import Outcome, Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.sweeper import Sweeper
from provisioner.sweeping import Sweeping
from provisioner.timers import Timers
from provisioner.totals import Totals
from provisioner.triggers import Triggers

log = logging.getLogger(__name__)
T = TypeVar("T")

Wait = Callable[[float], object]


@dataclass(frozen=True)
class Parts:
    """What the factory builds for a provisioner: where its work comes from, and who does it."""

    stream: EventStream  # the configured stream in the group: the shared partition, the probe
    reconciler: Reconciler
    sweeper: Sweeper
    heartbeat: Heartbeat
    partitioning: Partitioning
    triggers: Triggers
    timers: Timers
    informer: Informer | None = None  # the cluster cache's watches, where the cluster has them


class Provisioner:
    def __init__(
        self,
        *,
        settings: ProvisionerSettings,
        parts: Parts,
        metrics: ProvisionerMetrics | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
        wait: Wait | None = None,
    ) -> None:
        self._settings = settings
        self._stream = parts.stream
        self._reconciler = parts.reconciler
        self._heartbeat = parts.heartbeat
        self._partitioning = parts.partitioning
        self._triggers = parts.triggers
        self._timers = parts.timers
        self._informer = parts.informer
        self._watching = False
        self.metrics = metrics or ProvisionerMetrics()
        self._clock = clock
        self._monotonic = monotonic
        self._stop = threading.Event()
        # Every wait of the loop goes through here: tests see them all, and stop() cuts them short.
        self._wait: Wait = wait or self._stop.wait
        self._grace_ends: float | None = None  # set by stop()
        self._pool = KeyedPool(workers=settings.workers, handle=self._reconcile, name="gateway")
        self._outages = Outages(
            log=log,
            count=self._count_outage,
            probe_interval=settings.probe_interval,
            monotonic=monotonic,
            random=random,
        )
        self._sweeps = self._sweeping(parts.sweeper)
        self.totals = Totals()
        self.last_loop = monotonic()
        self._partitions = PartitionWork(self._partitioning, self._reader_parts())
        self._pacing = self._paced()

    def _paced(self) -> Pacing:
        return Pacing(
            outages=self._outages,
            heartbeat=self._heartbeat,
            sweeps=self._sweeps,
            timers=self._timers,
            clock=self._clock,
            threaded=lambda: self._partitions.threaded,
            pool_full=self._pool_full,
        )

    def _sweeping(self, sweeper: Sweeper) -> Sweeping:
        return Sweeping(
            sweeper,
            submit=self._submit,
            settings=self._settings,
            metrics=self.metrics,
            clock=self._clock,
            monotonic=self._monotonic,
            synced=self._synced,
        )

    def _reader_parts(self) -> ReaderParts:
        consumer = Consumer(
            settings=self._settings,
            submit=self._submit,
            owns=self._partitioning.owns,
            metrics=self.metrics,
            totals=self.totals,
        )
        return ReaderParts(
            consumer=consumer,
            busy=self._pool_full,
            batch=self._settings.batch_size,
            reclaim_idle=self._settings.reclaim_idle,
            consumer_idle=self._settings.consumer_idle,
            monotonic=self._monotonic,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, *, watch: bool = True) -> None:
        """Start watching the cluster (when it has a cache), beat, learn the partitions, and
        join: take back what this consumer left pending, and what the share says of others'."""
        if watch:
            self.watch()
        self._heartbeat.beat()
        self._partitioning.learn()
        self._partitions.balance(self._pool.in_hand, force=True)
        for reader in self._partitions.in_loop():
            reader.join()

    def watch(self) -> None:
        """Start the watches of the cluster cache (once; nothing without a cache)."""
        if self._informer is None or self._watching:
            return
        self._watching = True
        self._informer.subscribe(self._on_watch_event)
        self._informer.start()

    def run(self) -> None:
        self.watch()
        log.info(
            "provisioner %s consuming %s in group %s with %d workers",
            self._settings.consumer,
            self._settings.stream,
            self._settings.group,
            self._settings.workers,
        )
        while not self._stop.is_set():
            self._wait(self._timed_turn())
        self.shutdown()

    def run_once(self, *, block_ms: int | None = 500) -> int:
        """One turn: timers, then beat, balance and sweep when due (MongoDB), then the readers
        the loop turns (Redis). Each half rides out its own backend's outage; returns the
        entries read."""
        self.last_loop = self._monotonic()
        for gateway_id in self._timers.due(self._clock()):
            self._submit(gateway_id, TIMER)
        self._guarded(MONGODB, self._mongodb_turn)
        return self._guarded(REDIS, lambda: self._redis_turn(block_ms)) or 0

    def stop(self) -> None:
        """Take no new work; the gateways in hand get the grace period to finish (the rule of
        `outbox_cli.signals.stop_within_grace`), counted from this call."""
        if self._grace_ends is None:
            self._grace_ends = self._monotonic() + self._settings.grace_seconds
        self._stop.set()

    def ping_redis(self) -> None:
        self._stream.ping()

    def check_cache(self) -> None:
        """Ready only once every kind has been listed: before, each step would GET instead."""
        if self._informer is not None and not self._informer.synced:
            raise RuntimeError("the cluster cache has not synced every kind yet")

    def alive(self) -> bool:
        """The loop has turned recently (a stuck loop fails the liveness probe)."""
        return self._monotonic() - self.last_loop < max(60.0, self._settings.sweep_interval * 3)

    def shutdown(self) -> None:
        """Wait for the gateways in hand until the grace period is over, leave, log the totals."""
        grace = self._settings.grace_seconds
        if self._grace_ends is not None:
            grace = max(0.0, self._grace_ends - self._monotonic())
        in_hand = self._pool.active
        self._partitions.stop()
        finished = self._pool.shutdown(grace)
        if self._informer is not None:
            self._informer.stop()
        self._leave()
        log.info(
            "shutdown: %d acked, %d failed, %d dead-lettered; %s",
            self.totals.acked,
            self.totals.failed,
            self.totals.dead_lettered,
            f"{in_hand} in flight finished"
            if finished
            else "grace period over, the rest stays pending",
        )

    def drain(self) -> Totals:
        """`--once`: reclaim, own pending, everything new, one sweep; no waiting for rollouts.
        After stop() it reads nothing more and skips the sweep."""
        self.start(watch=False)
        self._partitions.drain(self._stop.is_set)
        self._pool.wait_idle()
        if not self._stop.is_set():
            self.sweep()
            self._pool.wait_idle()
        self._pool.shutdown(0)
        self._leave()
        return self.totals

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._pool.wait_idle(timeout)

    def _leave(self) -> None:
        try:
            self._partitions.leave()
            self._heartbeat.leave()
        except BackendUnavailable as error:
            log.warning("could not remove the heartbeat record (it expires by itself): %s", error)

    # -- the two halves of a turn ---------------------------------------------------------------

    def _mongodb_turn(self) -> None:
        # While MongoDB is down the heartbeat is the probe that notices it is back.
        if self._outages.down(MONGODB) or self._heartbeat.until_beat() <= 0:
            self._heartbeat.beat()
        self._partitioning.learn()
        self._partitions.balance(self._pool.in_hand)
        if self._sweeps.until_due() <= 0:
            self.sweep()

    def _redis_turn(self, block_ms: int | None) -> int:
        readers = self._partitions.in_loop()
        if not readers:
            return 0  # partitions not known yet, or leased: each owned one has its thread
        if self._outages.down(REDIS):
            self._stream.ping()  # the probe: the rest of this half may not call Redis at all
        if self._outages.down(MONGODB):
            # Whatever is handed over now would only fail, and a reclaimed entry would count
            # one more delivery towards the dead-letter stream: it waits in Redis instead.
            return 0
        self.metrics.in_flight.set(self._pool.busy)
        return sum(reader.turn(block_ms) for reader in readers)

    # -- work -----------------------------------------------------------------------------------

    def reclaim(self) -> None:
        """Take back what has been pending too long in the partitions the loop reads."""
        for reader in self._partitions.in_loop():
            reader.reclaim()

    def sweep(self, *, resync: bool | None = None) -> int:
        """Hand every gateway that needs a look to the pool; `resync` forces (or skips) the
        resync of resting Started gateways, which otherwise runs when due."""
        return self._sweeps.sweep(resync=resync)

    def _synced(self) -> bool:
        # Before the cache has synced a resync would GET every object: it waits for the sync.
        return self._informer is None or self._informer.synced

    def _on_watch_event(self, event: WatchEvent) -> None:
        gateway_id = gateway_of(event.object)
        if gateway_id is not None and not self._stop.is_set():
            log.debug("gateway %s: %s %s %s", gateway_id, event.type, event.kind, event.name)
            self._submit(gateway_id, WATCH)

    def _submit(self, gateway_id: str, trigger: str, done: Done | None = None) -> None:
        """Queue a gateway (once, however often it is asked for), remembering what asked first;
        only a gateway this replica owns now (with leases, of a partition it holds)."""
        if not self._partitioning.owns(gateway_id):
            return  # its owner handles it; an entry left unacked goes with the partition
        self._triggers.note(gateway_id, trigger)
        self._pool.submit(gateway_id, done)

    def _reconcile(self, gateway_id: str) -> Outcome:
        trigger = self._triggers.begin(gateway_id)
        self.metrics.reconciles.labels(trigger).inc()
        began = self._monotonic()
        try:
            with self.metrics.reconcile_seconds.time():
                outcome = self._reconciler.reconcile(gateway_id)
        finally:
            self._triggers.end(gateway_id)
        took = self._monotonic() - began
        if took > self._settings.handler_deadline:
            # Past the deadline another consumer may already have reclaimed the entry; the
            # step is idempotent, but a cluster this slow deserves a look.
            log.warning(
                "gateway %s took %.1fs, past the %.0fs handler deadline",
                gateway_id,
                took,
                self._settings.handler_deadline,
            )
        return outcome

    # -- outages and pacing ---------------------------------------------------------------------

    def _guarded(self, backend: str, work: Callable[[], T]) -> T | None:
        """Run one half of a turn; an outage of its backend is noted, never raised."""
        try:
            result = work()
        except BackendUnavailable as error:
            self._outages.failed(backend, error)
            return None
        self._outages.answered(backend)
        return result

    def _count_outage(self, backend: str) -> None:
        self.metrics.backend_outages.labels(backend).inc()

    def _pool_full(self) -> bool:
        return self._pool.busy >= self._settings.workers * 4

    def _timed_turn(self) -> float:
        """One turn of `run()`; how long to wait before the next."""
        began = self._monotonic()
        block_ms = self._pacing.read_block_ms()
        read = self.run_once(block_ms=block_ms)
        return self._pacing.pause(read, self._monotonic() - began, block_ms / 1000)
