"""The relay loop: outbox → Redis stream, once per event, in order per gateway.

`run_once()` is one turn: hold the lease (`relay.lease`, one per partition; a store without
recorded partitions is one partition, on the same code), fetch a batch in commit order, keep
back what would overtake a lower version of its gateway, publish the rest (one round trip per
partition), mark them in one `update_many`. A document that is not an event is parked where it
lies and holds up only its own gateway. An outage or a lost lease is ridden out, not raised: the
turn's result says how long to wait (adaptive polling, back-off during outages, never longer
than OUTBOX_PROBE_INTERVAL). `run()` only loops over `run_once()` and waits; `stop()` follows
the shutdown rule of `outbox_cli.signals.stop_within_grace`: the batch in flight finishes, then
the lease is released."""

from __future__ import annotations

import logging
import random as random_module
import threading
import time
from collections.abc import Callable
from typing import Protocol

from outbox.coordination.ownership import TURNS_PER_LEASE
from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import BackendUnavailable, Conflict
from outbox.domain.event_documents import Unreadable
from outbox.domain.events import OutboxEvent
from outbox.runtime import tracing
from outbox.runtime.logs import ids
from outbox.runtime.outages import MONGODB, REDIS, Outages
from outbox.store.port import Store
from outbox.stream import EventStream, StreamUnavailable
from relay import ordering
from relay.accounting import Accounting, BatchResult, Totals
from relay.errors import LeaseLost
from relay.housekeeping import Housekeeping
from relay.layout import UNPARTITIONED, Layout
from relay.lease import RelayLease
from relay.metrics import RelayMetrics
from relay.outbox_reader import OutboxReader
from relay.polling import poll_wait
from relay.publisher import Publisher
from relay.settings import RelaySettings

log = logging.getLogger(__name__)


class Wakeup(Protocol):
    def start(self, notify: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class Relay:
    def __init__(
        self,
        store: Store,
        stream: EventStream,
        settings: RelaySettings,
        *,
        layout: Layout = UNPARTITIONED,
        reader: OutboxReader | None = None,
        metrics: RelayMetrics | None = None,
        wakeup: Wakeup | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        """`stream`: the stream OUTBOX_STREAM names, as the relay sees it (`stream_config`);
        `layout`: the partitions the store records (`outbox init`), none by default."""
        self._settings = settings
        self._layout = layout
        self.lease = RelayLease.of(store, settings, layout, clock=clock)
        self._reader = reader or OutboxReader(store, layout=layout, owned=self.lease.owned)
        self._publisher = Publisher(
            stream, layout, self.lease.ownership, reader=self._reader, name=settings.stream
        )
        self.metrics = metrics or RelayMetrics()
        self._wakeup = wakeup
        self._clock = clock
        self._monotonic = monotonic
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._wait = wait or self._wake.wait  # tests record the waits instead
        self._housekeeping = Housekeeping(
            store, self._reader, settings, self.metrics, clock=clock, monotonic=monotonic
        )
        self._accounting = Accounting(self.metrics, settings.max_publish_attempts)
        self._outages = _outages(settings, self._count_outage, monotonic=monotonic, random=random)
        self._idle_polls = 0
        self._standby_logged = False  # the lease wait is logged once, when it begins
        self._last_loop = monotonic()

    @property
    def totals(self) -> Totals:
        return self._accounting.totals

    # -- one turn --------------------------------------------------------------------------------

    def run_once(self) -> BatchResult:
        """One turn of `run()`: one batch, with an outage of MongoDB or Redis, or a lost lease,
        ridden out rather than raised; the result's `wait` is the pause before the next turn."""
        self._last_loop = self._monotonic()
        try:
            result = self._batch()
        except BackendUnavailable as error:
            return BatchResult(leader=self.lease.token is not None, wait=self._outage(error))
        except LeaseLost as error:
            log.warning("%s; standing by", error)
            self.lease.forget()
            self._show_leader(False)
            return BatchResult(leader=False, wait=self._standby_wait())
        self._outages.answered(MONGODB)
        self._outages.answered(REDIS)
        result.wait = self._pause(result)
        return result

    def _batch(self) -> BatchResult:
        """One batch. Raises BackendUnavailable (MongoDB or Redis down) and LeaseLost."""
        was_leader = self.lease.token is not None
        if not self.lease.acquire():
            if not self._standby_logged:
                log.info("%s: standing by", self.lease.refusal(), extra=self._log_ids)
                self._standby_logged = True
            self._show_leader(False)
            return BatchResult(leader=False)
        self._standby_logged = False
        self._show_partitions()
        if not was_leader:
            self._show_leader(True)
            self._housekeeping.refresh_parked()  # a new leader must know what is held up
        self._housekeeping.run_due()
        size = self._settings.batch_size
        fetched = self._reader.fetch(size, blocked=self._housekeeping.blocked)
        result = BatchResult(fetched=fetched.count, full=fetched.count >= size)
        self._housekeeping.draining = result.full
        barriers = self._housekeeping.set_aside(fetched.unreadable, result)
        if fetched.events:
            self._publish(fetched.events, result, barriers)
        self._housekeeping.observe(fetched.events, result)
        return result

    def _publish(
        self, batch: list[OutboxEvent], result: BatchResult, barriers: list[ordering.Row]
    ) -> None:
        decision = self._plan(batch, result, barriers)
        result.held = len(decision.held)
        if not decision.publish:
            return
        if not self.lease.valid():
            raise LeaseLost(f"lease {self.lease.name} ran out before the batch was published")
        with tracing.publish_span(decision.publish):
            outcomes = self._publisher.publish(decision.publish)
        published_at = self._clock()
        done = [e for e, o in zip(decision.publish, outcomes, strict=True) if o.published]
        self._reader.mark_published(done, at=published_at)
        ordering.settle(self._housekeeping.settled, done)
        self._accounting.published(decision.publish, outcomes, published_at, result)
        errors = {o.event_id: o.error for o in outcomes if o.error is not None}
        if errors:
            result.parked = self._reader.record_rejections(
                errors, park_after=self._settings.max_publish_attempts
            )
            for event in self._accounting.rejected(decision.publish, result.parked, errors):
                self._housekeeping.block(event.aggregate_id, event.version)
        if self.lease.token is None:  # fenced out of every partition it held
            raise LeaseLost(f"lease {self.lease.name} was taken over by a newer holder")

    def _plan(
        self, batch: list[OutboxEvent], result: BatchResult, barriers: list[ordering.Row]
    ) -> ordering.Plan[OutboxEvent]:
        # Only gateways the batch does not prove are asked about (a scan of the backlog on
        # nx-27017); a draining relay's batches usually prove all of theirs.
        unproven = ordering.unproven(batch, self._housekeeping.settled)
        found = self._reader.unpublished_below([e for e in batch if e.aggregate_id in unproven])
        rows = [row for row in found if isinstance(row, ordering.Row)]
        rows += barriers
        rows += self._housekeeping.set_aside(
            [row for row in found if isinstance(row, Unreadable)], result
        )
        missing = ordering.predecessors(batch, rows, limit=self._settings.batch_size)
        if missing:
            # Lower versions that sort after the batch (equal timestamps cut by the limit, or
            # clocks that disagree): bring them in rather than wait for them forever. One that
            # turns out unreadable is already a row: it holds up what is above it.
            extra = self._reader.by_ids(missing)
            self._housekeeping.set_aside(extra.unreadable, result)
            batch = sorted(batch + extra.events, key=lambda e: e.occurred_at)
        return ordering.plan(batch, ordering.lowest_outside(batch, rows))

    def _show_partitions(self) -> None:
        owned = self.lease.owned()
        for n in self._layout.gauged:
            self.metrics.partition_owned.labels(str(n)).set(1 if n in owned else 0)

    def _show_leader(self, leader: bool) -> None:
        self.metrics.lease_holder.set(1 if leader else 0)
        self.metrics.lease_token.set(self.lease.token or 0)

    # -- waits -----------------------------------------------------------------------------------

    def _outage(self, error: BackendUnavailable) -> float:
        if isinstance(error, StreamUnavailable):
            self._outages.answered(MONGODB)  # the batch was read: only Redis is away
            self._outages.failed(REDIS, error)
        else:
            self._outages.failed(MONGODB, error)
        return self._outages.wait()

    def _pause(self, result: BatchResult) -> float:
        if not result.leader:
            return self._standby_wait()
        if result.more:
            return 0.0
        self._idle_polls = 0 if result.active else self._idle_polls + 1
        return poll_wait(
            self._idle_polls, short=self._settings.poll_min, long=self._settings.poll_max
        )

    def _count_outage(self, backend: str) -> None:
        self.metrics.outages.labels(backend=backend).inc()

    def _standby_wait(self) -> float:
        # Often enough to take over well within the lease time once the holder is gone.
        return min(self._settings.poll_max, self._settings.lease_seconds / TURNS_PER_LEASE)

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> None:
        """Publish until stop(); then release the lease."""
        log.info(
            "relay %s publishing to stream %s (batch %d, lease %.0fs)",
            self._settings.relay_id,
            self._settings.stream,
            self._settings.batch_size,
            self._settings.lease_seconds,
        )
        if self._wakeup is not None:
            self._wakeup.start(self.wake)
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before the batch: a wake-up during it is not lost
                self._wait(self.run_once().wait)
        finally:
            if self._wakeup is not None:
                self._wakeup.stop()
            self._shutdown()

    def drain(self, *, lease_wait: float) -> Totals:
        """`--once`: take every partition's lease (waiting up to `lease_wait` seconds), publish
        everything that can go, release them. Raises Conflict, naming them, if other relays
        kept leases, and BackendUnavailable if MongoDB or Redis is down."""
        try:
            self._take_every_lease(lease_wait)
            self._show_leader(True)
            self._housekeeping.refresh_parked()
            while not self._stopping.is_set():
                if not self._batch().more:
                    break
        finally:
            self._shutdown()  # hands back what it took, a lease kept by another relay or not
        return self.totals

    def _take_every_lease(self, lease_wait: float) -> None:
        deadline = self._monotonic() + lease_wait
        while not self.lease.take_every():
            if self._stopping.is_set() or self._monotonic() >= deadline:
                raise Conflict(self.lease.refusal())
            if not self._standby_logged:
                log.info(
                    "%s: waiting up to %.0fs for it",
                    self.lease.refusal(),
                    lease_wait,
                    extra=self._log_ids,
                )
                self._standby_logged = True
            self._wait(min(0.5, lease_wait / 10))

    def stop(self) -> None:
        """Take no new batch: the one in flight finishes, then run() or drain() releases the
        lease and returns (the grace period is `outbox_cli.signals.stop_within_grace`'s)."""
        self._stopping.set()
        self._wake.set()

    def publisher_ping(self) -> None:
        """Readiness check: raises StreamUnavailable unless Redis answers."""
        self._publisher.ping()

    def wake(self) -> None:
        """Poll now (a change stream saw a new event)."""
        self._wake.set()

    def alive(self) -> bool:
        """For /healthz: the loop came round recently (a wait lasts at most probe_interval)."""
        limit = self._settings.probe_interval + self._settings.lease_seconds + 60
        return self._monotonic() - self._last_loop < limit

    @property
    def _log_ids(self) -> dict[str, str]:
        return ids(relay_id=self._settings.relay_id)

    def _shutdown(self) -> None:
        try:
            self.lease.release()
        except BackendUnavailable as error:
            log.warning(
                "could not release lease %s (%s); it expires by itself", self.lease.name, error
            )
        self._show_leader(False)
        log.info(
            "relay %s stopped: %d events published in %d batches, %d already in stream, %d parked",
            self._settings.relay_id,
            self.totals.published,
            self.totals.batches,
            self.totals.duplicates,
            self.totals.parked,
        )


def _outages(
    settings: RelaySettings,
    count: Callable[[str], None],
    *,
    monotonic: Callable[[], float],
    random: Callable[[], float],
) -> Outages:
    return Outages(
        log=log,
        count=count,
        probe_interval=settings.probe_interval,
        monotonic=monotonic,
        random=random,
    )
