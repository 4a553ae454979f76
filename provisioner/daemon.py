"""The provisioner daemon: reads the stream in its group, hands gateways to the pool, sweeps.

`run()` only loops over `run_once()` until `stop()`; `drain()` is `--once`. Entries are acked
after the gateway's step has committed, never before; whatever is not acked stays pending and is
reclaimed, and whatever can never be handled goes to the dead-letter stream.

A turn has a MongoDB half (heartbeat, sweep) and a Redis half (group, takeovers, reclaims,
reading), guarded apart: the sweep and its timeouts need only MongoDB and the cluster, so a
Redis outage delays only what needs Redis. With the cluster cache, watch events queue the
gateway their object is labelled with, deadlines are timers, and the sweep and the resync judge
against the cache. An outage backs off as the relay's does
(`outbox.runtime.outages`), and `stop()` follows the shutdown rule of
`outbox_cli.signals.stop_within_grace`.
"""

from __future__ import annotations

import logging
import random as random_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from outbox.coordination.membership import Membership
from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import BackendUnavailable
from outbox.runtime.logs import ids
from outbox.runtime.outages import MONGODB, REDIS, Outages
from outbox.stream import Claimed, EventStream
from provisioner.cluster.informer import Informer
from provisioner.cluster.port import WatchEvent, gateway_of
from provisioner.entries import GatewayEvent, Poison, parse_entry
from provisioner.metrics import (
    DELIVERIES,
    RESYNC,
    STREAM,
    SWEEP,
    TIMER,
    UNKNOWN_GATEWAY,
    UNPARSABLE,
    WATCH,
    ProvisionerMetrics,
)
from provisioner.partition_work import Partitioning, PartitionWork
from provisioner.pool import KeyedPool
from provisioner.reconciler import Outcome, Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.sweeper import Sweeper
from provisioner.timers import Timers
from provisioner.totals import Totals

log = logging.getLogger(__name__)
T = TypeVar("T")

Wait = Callable[[float], object]

# Entries for unknown gateways in a row that suggest the wrong database rather than bad entries.
UNKNOWN_STREAK = 10
SHORT_WAIT = 0.05  # against spinning: a server that ignores BLOCK, a full pool
READ_BLOCK = 0.5  # longest wait for new entries: the loop must also beat, reclaim and time out
PENDING_AT_ONCE = 10_000  # entries taken back from one consumer in one call


def next_due(due: float, interval: float, now: float) -> float:
    """At a fixed rate: `interval` after the time it was due, not after the time it ran, so that
    the period does not stretch by however late each round ran; from `now` if that has already
    passed (the first round, or after an outage)."""
    following = due + interval
    return following if following > now else now + interval


@dataclass
class _Schedule:
    """When the periodic work of the loop is next due (monotonic seconds; the beat in UTC)."""

    beat: datetime | None = None
    sweep: float = 0.0
    resync: float = 0.0
    reclaim: float = 0.0


class _Triggers:
    """What queued each gateway first (the pool coalesces the rest): stream, watch, sweep..."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: dict[str, str] = {}

    def note(self, gateway_id: str, trigger: str) -> None:
        with self._lock:
            self._first.setdefault(gateway_id, trigger)

    def take(self, gateway_id: str, default: str) -> str:
        with self._lock:
            return self._first.pop(gateway_id, default)


class InHand(threading.local):
    """What brought the gateway that this worker thread is handling: the reconciler's step
    counter reads it to count committed steps by trigger."""

    trigger: str = SWEEP


class _Streak:
    """Entries for unknown gateways in a row, counted by the workers as they finish."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._length = 0

    def reset(self) -> None:
        with self._lock:
            self._length = 0

    def extend(self) -> int:
        with self._lock:
            self._length += 1
            return self._length


class Provisioner:
    def __init__(
        self,
        *,
        settings: ProvisionerSettings,
        stream: EventStream,
        reconciler: Reconciler,
        sweeper: Sweeper,
        membership: Membership,
        metrics: ProvisionerMetrics | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
        wait: Wait | None = None,
        informer: Informer | None = None,
        timers: Timers | None = None,
        in_hand: InHand | None = None,
        partitioning: Partitioning | None = None,
    ) -> None:
        self._settings, self._stream, self._reconciler = settings, stream, reconciler
        self._sweeper, self._membership = sweeper, membership
        self.metrics = metrics or ProvisionerMetrics()
        self._clock = clock
        self._monotonic = monotonic
        self._stop = threading.Event()
        # Every wait of the loop goes through here: tests see them all, and stop() cuts them short.
        self._wait: Wait = wait or self._stop.wait
        self._grace_ends: float | None = None  # set by stop()
        self._pool = KeyedPool(workers=settings.workers, handle=self._reconcile, name="gateway")
        self._outages = Outages(
            log=log, count=self._count_outage, probe_interval=settings.probe_interval,
            monotonic=monotonic, random=random,
        )  # fmt: skip
        self._live: frozenset[str] | None = None  # consumers with a heartbeat, as of the last beat
        self._due, self._unknown, self._joined = _Schedule(), _Streak(), False
        self.totals, self.last_loop = Totals(), monotonic()
        self._informer, self._watching = informer, False  # the cluster cache's watches
        self._timers = timers if timers is not None else Timers()  # empty is falsy
        self._triggers, self._in_hand = _Triggers(), in_hand or InHand()
        self._partitioning = partitioning or Partitioning.none()

    @property
    def _partitions(self) -> PartitionWork | None:
        """This replica's share of the partitions and their readers, where the store has any."""
        return self._partitioning.work

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, *, watch: bool = True) -> None:
        """Start watching the cluster (when it has a cache), beat, join the group, and take back
        what this consumer and dead ones left pending."""
        if watch:
            self.watch()
        self._beat()
        self._partitioning.learn()
        if self._partitions is not None:
            self._partitions.balance(self, force=True)
            return
        self._join()
        self._take_over_the_dead()

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
            began, block_ms = self._monotonic(), self._read_block_ms()
            read = self.run_once(block_ms=block_ms)
            self._wait(self._pause(read, self._monotonic() - began, block_ms / 1000))
        self.shutdown()

    def run_once(self, *, block_ms: int | None = 500) -> int:
        """One turn: beat and sweep when due (MongoDB), then join, take over, reclaim and read
        (Redis). Each half rides out its own backend's outage; returns the entries read."""
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
        if self._partitions is not None:
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
        if self._partitions is not None:
            self._partitions.stop()  # read here, in this thread
            self._partitions.drain(self)
        else:
            self._drain_stream()
        self._pool.wait_idle()
        if not self._stop.is_set():
            self.sweep()
            self._pool.wait_idle()
        self._pool.shutdown(0)
        self._leave()
        return self.totals

    def _drain_stream(self) -> None:
        self.reclaim()
        while not self._stop.is_set() and (
            entries := self._stream.read_new(count=self._settings.batch_size, block_ms=None)
        ):
            for entry_id, fields in entries:
                self._dispatch(entry_id, fields, deliveries=1)

    # -- the two halves of a turn ---------------------------------------------------------------

    def _mongodb_turn(self) -> None:
        # While MongoDB is down the heartbeat is the probe that notices it is back.
        if self._outages.down(MONGODB) or self._until_beat() <= 0:
            self._beat()
        self._partitioning.learn()
        if self._partitions is not None:
            owned = self._partitions.balance(self)
            for n in range(self._partitions.ownership.partitions):
                self.metrics.partition_owned.labels(str(n)).set(1 if n in owned else 0)
        if self._monotonic() >= self._due.sweep:
            self.sweep()

    def _redis_turn(self, block_ms: int | None) -> int:
        if not self._partitioning.known or self._partitions is not None:
            return 0  # partitioned (or not known yet): each owned partition has a reader
        if self._outages.down(REDIS):
            self._stream.ping()  # the probe: the rest of this half may not call Redis at all
        if self._outages.down(MONGODB):
            # Whatever is handed over now would only fail, and a reclaimed entry would count
            # one more delivery towards the dead-letter stream: it waits in Redis instead.
            return 0
        if not self._joined:
            self._join()
        if self._live is not None:
            self._take_over_the_dead()
        if self._monotonic() >= self._due.reclaim:
            self.reclaim()
        self.metrics.in_flight.set(self._pool.busy)
        if self._pool_full():
            return 0  # back-pressure: the pause lets the workers catch up before reading more
        entries = self._stream.read_new(count=self._settings.batch_size, block_ms=block_ms)
        for entry_id, fields in entries:
            self._dispatch(entry_id, fields, deliveries=1)
        return len(entries)

    # -- membership -----------------------------------------------------------------------------

    def _beat(self) -> None:
        at = self._membership.beat()
        self._due.beat = at + timedelta(seconds=self._membership.interval)
        self._live = frozenset(member.name for member in self._membership.live(at))

    def _until_beat(self) -> float:
        if self._due.beat is None:
            return 0.0
        return (self._due.beat - self._clock()).total_seconds()

    def _join(self) -> None:
        self._stream.ensure_group()
        for claimed in self._stream.claim_own_pending(count=PENDING_AT_ONCE):
            self._dispatch_claimed(claimed)
        self._joined = True

    def _take_over_the_dead(self) -> None:
        """Claim at once whatever consumers without a live heartbeat left pending: they will
        never ack it, so waiting out OUTBOX_RECLAIM_IDLE would only delay their gateways."""
        live = self._live
        if live is None:
            return
        for consumer in self._stream.consumers():
            if consumer.pending == 0 or consumer.name == self._settings.consumer:
                continue
            if consumer.name in live:
                continue
            claimed = self._stream.claim_pending_of(consumer.name, count=PENDING_AT_ONCE)
            log.warning(
                "consumer %s has no live heartbeat: took over its %d pending entries",
                consumer.name,
                len(claimed),
            )
            for entry in claimed:
                self._dispatch_claimed(entry)
        self._live = None  # the next beat says again who is alive

    def _leave(self) -> None:
        try:
            if self._partitions is not None:
                self._partitions.leave()
            self._membership.leave()
        except BackendUnavailable as error:
            log.warning("could not remove the heartbeat record (it expires by itself): %s", error)

    # -- work -----------------------------------------------------------------------------------

    def reclaim(self) -> None:
        idle_ms = int(self._settings.reclaim_idle * 1000)
        for claimed in self._stream.reclaim_idle(
            min_idle_ms=idle_ms, count=self._settings.batch_size
        ):
            self._dispatch_claimed(claimed)
        self._forget_idle_consumers()
        self._due.reclaim = self._monotonic() + self._settings.reclaim_idle / 2

    def sweep(self, *, resync: bool | None = None) -> int:
        """Hand every gateway that needs a look to the pool; `resync` forces (or skips) the
        resync of resting Started gateways, which otherwise runs when due."""
        now = self._clock()
        ids = self._sweeper.due(now)
        for gateway_id in ids:
            self._submit(gateway_id, SWEEP)
        if resync or (resync is None and self._resync_due()):
            ids += self._resync(leaving_out=set(ids))
        census = self._sweeper.census(now)
        for phase, count in census.per_phase.items():
            self.metrics.gateways.labels(phase).set(count)
        self.metrics.retries_pending.set(census.retries_pending)
        interval = self._settings.sweep_interval
        self._due.sweep = next_due(self._due.sweep, interval, self._monotonic())
        if ids:
            log.debug("sweep: %d gateways to look at", len(ids))
        return len(ids)

    def _resync(self, *, leaving_out: set[str]) -> list[str]:
        """Every resting Started gateway to the pool (but those the sweep has just handed over):
        from the cache this costs no API request, and it catches whatever a watch missed."""
        resting = [i for i in self._sweeper.resting_started() if i not in leaving_out]
        for gateway_id in resting:
            self._submit(gateway_id, RESYNC)
        self.metrics.resyncs.inc()
        interval = self._settings.resync_interval
        self._due.resync = next_due(self._due.resync, interval, self._monotonic())
        return resting

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._pool.wait_idle(timeout)

    def _resync_due(self) -> bool:
        # Before the cache has synced a resync would GET every object: it waits for the sync.
        synced = self._informer is None or self._informer.synced
        return synced and self._monotonic() >= self._due.resync

    def _on_watch_event(self, event: WatchEvent) -> None:
        gateway_id = gateway_of(event.object)
        if gateway_id is not None and not self._stop.is_set():
            log.debug("gateway %s: %s %s %s", gateway_id, event.type, event.kind, event.name)
            self._submit(gateway_id, WATCH)

    def _submit(
        self, gateway_id: str, trigger: str, done: Callable[..., None] | None = None
    ) -> None:
        """Queue a gateway (once, however often it is asked for), remembering what asked first;
        with partitions, only a gateway of a partition this replica owns now."""
        if not self._partitioning.owns(gateway_id):
            return  # its owner handles it; an entry left unacked goes with the partition
        self._triggers.note(gateway_id, trigger)
        self._pool.submit(gateway_id, done)

    # The partitions' readers hand their entries over here, with the stream they came from.

    def handle_entry(
        self, stream: EventStream, entry_id: str, fields: dict[str, str], deliveries: int
    ) -> None:
        self._dispatch(entry_id, fields, deliveries=deliveries, stream=stream)

    def handle_claimed(self, stream: EventStream, claimed: Claimed) -> None:
        self._dispatch_claimed(claimed, stream=stream)

    def busy(self) -> bool:
        return self._pool_full()

    def in_hand(self) -> list[str]:
        return self._pool.in_hand()

    def _dispatch_claimed(self, claimed: Claimed, *, stream: EventStream | None = None) -> None:
        stream = stream or self._stream
        if claimed.fields is None:
            # Trimmed or deleted while pending: nothing to hand over; the sweeper covers it.
            stream.ack(claimed.entry_id)
            return
        if claimed.deliveries > self._settings.max_deliveries:
            reason = f"delivered {claimed.deliveries - 1} times without an ack"
            self._dead_letter(
                claimed.entry_id, claimed.fields, reason, claimed.deliveries, DELIVERIES, stream
            )
            return
        self._dispatch(
            claimed.entry_id, claimed.fields, deliveries=claimed.deliveries, stream=stream
        )

    def _dispatch(
        self,
        entry_id: str,
        fields: dict[str, str],
        *,
        deliveries: int,
        stream: EventStream | None = None,
    ) -> None:
        stream = stream or self._stream
        parsed = parse_entry(entry_id, fields, max_bytes=self._settings.max_entry_bytes)
        if isinstance(parsed, Poison):
            self._dead_letter(entry_id, fields, parsed.reason, deliveries, UNPARSABLE, stream)
            return

        def done(outcome: Outcome | None) -> None:
            self._finish(parsed, outcome, fields, deliveries, stream)

        self._submit(parsed.gateway_id, STREAM, done)

    def _finish(
        self,
        event: GatewayEvent,
        outcome: Outcome | None,
        fields: dict[str, str],
        deliveries: int,
        stream: EventStream,
    ) -> None:
        if outcome is Outcome.NOT_OWNED:
            return  # left pending: the partition's new owner claims the entry
        try:
            if outcome is Outcome.MISSING:
                self._unknown_gateway(event, fields, deliveries, stream)
                return
            ok = outcome is not None and self._ack(event, stream)
        except BackendUnavailable as error:
            # Neither acked nor dead-lettered: it stays pending and comes back.
            log.warning(
                "entry %s handled but left pending: %s", event.entry_id, error,
                extra=ids(entry_id=event.entry_id, gateway_id=event.gateway_id),
            )  # fmt: skip
            ok = False
        self.metrics.events_handled.labels(str(event.type), "acked" if ok else "failed").inc()
        self.totals.handled(ok=ok)

    def _ack(self, event: GatewayEvent, stream: EventStream) -> bool:
        if not self._partitioning.owns(event.gateway_id):
            return False  # the partition moved on: its new owner claims the entry
        stream.ack(event.entry_id)
        self._unknown.reset()
        return True

    def _unknown_gateway(
        self, event: GatewayEvent, fields: dict[str, str], deliveries: int, stream: EventStream
    ) -> None:
        database = self._settings.database
        reason = f"{UNKNOWN_GATEWAY}: no gateway {event.gateway_id} in database {database}"
        self._dead_letter(event.entry_id, fields, reason, deliveries, UNKNOWN_GATEWAY, stream)
        if self._unknown.extend() == UNKNOWN_STREAK:
            # Once per streak: every entry naming an unknown gateway points at the wrong database.
            log.error(
                "%d consecutive unknown gateways: check OUTBOX_DATABASE (this provisioner reads "
                "database %r)",
                UNKNOWN_STREAK,
                database,
            )

    def _dead_letter(
        self,
        entry_id: str,
        fields: dict[str, str],
        reason: str,
        deliveries: int,
        kind: str,
        stream: EventStream,
    ) -> None:
        log.warning(
            "dead-lettering entry %s (event %s, gateway %s): %s; `outbox dlq replay %s` or "
            "`outbox dlq drop %s` takes this id",
            entry_id,
            fields.get("event_id", "?"),
            fields.get("aggregate_id", "?"),
            reason,
            entry_id,
            entry_id,
            extra=ids(
                entry_id=entry_id,
                event_id=fields.get("event_id"),
                gateway_id=fields.get("aggregate_id"),
                consumer=self._settings.consumer,
            ),
        )
        stream.dead_letter(entry_id, fields, reason, deliveries)
        self.metrics.dead_lettered.labels(kind).inc()
        self.totals.add_dead_lettered()

    def _reconcile(self, gateway_id: str) -> Outcome:
        trigger = self._triggers.take(gateway_id, SWEEP)
        self._in_hand.trigger = trigger
        self.metrics.reconciles.labels(trigger).inc()
        began = self._monotonic()
        with self.metrics.reconcile_seconds.time():
            outcome = self._reconciler.reconcile(gateway_id)
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

    def _forget_idle_consumers(self) -> None:
        for consumer in self._stream.consumers():
            if (
                consumer.name != self._settings.consumer
                and consumer.pending == 0
                and consumer.idle_seconds > self._settings.consumer_idle
            ):
                self._stream.remove_consumer(consumer.name)
                log.info("removed idle consumer %s (nothing pending)", consumer.name)

    # -- outages --------------------------------------------------------------------------------

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

    def _read_block_ms(self) -> int:
        """How long the read may wait for new entries: until the next sweep or timer at most, so
        that they run on time rather than up to READ_BLOCK late (never 0: that blocks forever)."""
        until = min(
            READ_BLOCK,
            self._due.sweep - self._monotonic(),
            self._timers.seconds_until(self._clock()),
        )
        return max(1, int(until * 1000))

    def _pause(self, read: int, took: float, block: float) -> float:
        """The wait after a turn: none when the read itself waited for entries (BLOCK)."""
        if self._outages.any:
            return self._outage_wait()
        if self._partitions is not None:
            return block  # the readers wait on Redis; this loop only keeps time
        if self._pool_full() or (read == 0 and took < min(0.01, block / 2)):
            # A full pool needs a moment; a server that does not honour BLOCK (an embedded
            # fake) must not make us spin.
            return SHORT_WAIT
        return 0.0

    def _outage_wait(self) -> float:
        """While a backend is down: the back-off (at most the probe interval), and, while MongoDB
        answers, no longer than the next sweep or heartbeat either (they must not wait for
        Redis)."""
        wait = self._outages.wait()
        if not self._outages.down(MONGODB):
            wait = min(wait, self._due.sweep - self._monotonic(), self._until_beat())
        return max(wait, SHORT_WAIT)
