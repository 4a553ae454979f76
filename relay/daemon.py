"""The relay loop: outbox → Redis stream, once per event, in order per gateway.

`run_once()` is one step: hold the lease, fetch a batch in commit order, keep back what would
overtake a lower version of its gateway, publish the rest in one round trip, mark them in one
`update_many`. A document that is not an event is parked where it lies and holds up only its own
gateway. `run()` repeats it, waits adaptively, and rides out outages with back-off (never
waiting longer than OUTBOX_PROBE_INTERVAL); `stop()` lets the batch in flight finish, then the
lease is released.
"""

from __future__ import annotations

import logging
import random as random_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from outbox.clock import Clock, utcnow
from outbox.errors import BackendUnavailable, Conflict
from outbox.event_documents import Unreadable
from outbox.events import OutboxEvent
from outbox.memory_store import MemoryStore
from outbox.store import Store
from outbox.stream import EventStream, Publication, StreamUnavailable
from relay import ordering
from relay.backoff import backoff, poll_wait
from relay.barriers import barrier_rows, block, blocked_by
from relay.errors import Fenced, LeaseLost
from relay.lease import Lease
from relay.metrics import RelayMetrics
from relay.outbox_reader import OutboxReader
from relay.settings import RelaySettings

log = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0  # seconds between retention purges on stores without a TTL index
RETRY_BASE = 0.1  # first back-off delay in seconds


class Wakeup(Protocol):
    def start(self, notify: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


@dataclass
class BatchResult:
    """What one `run_once()` did."""

    leader: bool = True
    fetched: int = 0
    published: int = 0  # new stream entries
    duplicates: int = 0  # already in the stream (a previous attempt got that far), now marked
    held: int = 0  # wait for a lower version of their gateway
    rejected: int = 0
    unreadable: int = 0  # documents that are not events, set aside (parked)
    parked: list[str] = field(default_factory=list)
    lag: float = 0.0  # seconds from the oldest published event's commit to its XADD
    full: bool = False  # the fetch hit the batch limit: more is waiting

    @property
    def active(self) -> bool:
        return bool(self.published or self.duplicates or self.rejected or self.unreadable)

    @property
    def more(self) -> bool:
        """Poll again at once: the batch was full and it made progress."""
        return self.full and self.active


@dataclass
class Totals:
    batches: int = 0
    published: int = 0
    duplicates: int = 0
    parked: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1 if result.active else 0
        self.published += result.published
        self.duplicates += result.duplicates
        self.parked += len(result.parked)


class Relay:
    def __init__(
        self,
        store: Store,
        publisher: EventStream,
        settings: RelaySettings,
        *,
        reader: OutboxReader | None = None,
        lease: Lease | None = None,
        metrics: RelayMetrics | None = None,
        wakeup: Wakeup | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random_module.random,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._settings = settings
        self._reader = reader or OutboxReader(store)
        self.lease = lease or Lease(
            store,
            name=f"relay:{settings.stream}",
            owner=settings.relay_id,
            seconds=settings.lease_seconds,
            clock=clock,
        )
        self.metrics = metrics or RelayMetrics()
        self._wakeup = wakeup
        self._clock = clock
        self._monotonic = monotonic
        self._random = random
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._wait_for = wait or self._wake.wait  # tests record the waits instead
        # Gateways held up by a parked document, each from its lowest parked version on.
        self._blocked: dict[str, int] = {}
        # A full count is slow on a large outbox: the first waits one interval, and a partial
        # batch sets the backlog gauge exactly in between.
        self._stats_due = monotonic() + settings.stats_interval
        self._draining = False  # the last fetch hit the batch limit
        self._purge_due = 0.0
        self._last_loop = monotonic()
        self.totals = Totals()

    # -- one step --------------------------------------------------------------------------------

    def run_once(self) -> BatchResult:
        """One batch. Raises BackendUnavailable (MongoDB or Redis down) and LeaseLost."""
        was_leader = self.lease.token is not None
        if not self.lease.acquire():
            self._show_leader(False)
            return BatchResult(leader=False)
        if not was_leader:
            self._show_leader(True)
            self._refresh_parked()  # a new leader must know which gateways are held up
        self._housekeeping()
        fetched = self._reader.fetch(self._settings.batch_size, blocked=self._blocked)
        result = BatchResult(fetched=fetched.count, full=fetched.count >= self._settings.batch_size)
        self._draining = result.full
        barriers = self._set_aside(fetched.unreadable, result)
        batch = fetched.events
        if batch:
            self._publish(batch, result, barriers)
        self._observe(batch, result)
        return result

    def _publish(
        self, batch: list[OutboxEvent], result: BatchResult, barriers: list[ordering.Row]
    ) -> None:
        decision = self._plan(batch, result, barriers)
        result.held = len(decision.held)
        if not decision.publish:
            return
        if not self.lease.valid() or self.lease.token is None:
            raise LeaseLost(f"lease {self.lease.name} ran out before the batch was published")
        try:
            outcomes = self._publisher.publish(decision.publish, token=self.lease.token)
        except Fenced:
            self.lease.forget()
            self._show_leader(False)
            raise
        published_at = self._clock()
        done = [e for e, o in zip(decision.publish, outcomes, strict=True) if o.published]
        self._reader.mark_published(done, at=published_at)
        self._account(decision.publish, outcomes, published_at, result)
        errors = {o.event_id: o.error for o in outcomes if o.error is not None}
        if errors:
            result.parked = self._reader.record_rejections(
                errors, park_after=self._settings.max_publish_attempts
            )
            self._note_parked(decision.publish, result.parked, errors)

    def _plan(
        self, batch: list[OutboxEvent], result: BatchResult, barriers: list[ordering.Row]
    ) -> ordering.Plan[OutboxEvent]:
        found = self._reader.unpublished_below(batch)
        rows = [row for row in found if isinstance(row, ordering.Row)]
        rows += barriers
        rows += self._set_aside([row for row in found if isinstance(row, Unreadable)], result)
        missing = ordering.predecessors(batch, rows, limit=self._settings.batch_size)
        if missing:
            # Lower versions that sort after the batch (equal timestamps cut by the limit, or
            # clocks that disagree): bring them in rather than wait for them forever. One that
            # turns out unreadable is already a row: it holds up what is above it.
            extra = self._reader.by_ids(missing)
            self._set_aside(extra.unreadable, result)
            batch = sorted(batch + extra.events, key=lambda e: e.occurred_at)
        return ordering.plan(batch, ordering.lowest_outside(batch, rows))

    def _set_aside(self, documents: list[Unreadable], result: BatchResult) -> list[ordering.Row]:
        """Park documents that are not events, hold up their gateways; the rows they add to
        the ordering check."""
        if not documents:
            return []
        for document in self._reader.park_unreadable(documents):
            log.error(
                "outbox document %s cannot be published and is parked: %s; `outbox relay "
                "unpark %s` retries it once it is fixed",
                document.describe(),
                document.reason,
                document.id,
            )
            result.unreadable += 1
            result.parked.append(document.id)
            self.metrics.parked.inc()
        rows = barrier_rows(documents)
        for row in rows:
            block(self._blocked, row.aggregate_id, row.version)
        return rows

    def _account(
        self,
        events: list[OutboxEvent],
        outcomes: list[Publication],
        published_at: datetime,
        result: BatchResult,
    ) -> None:
        oldest: datetime | None = None
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome.held:
                result.held += 1
                continue
            if not outcome.published:
                result.rejected += 1
                continue
            if outcome.duplicate:
                result.duplicates += 1
                continue
            result.published += 1
            self.metrics.latency.observe(
                max(0.0, (published_at - event.occurred_at).total_seconds())
            )
            oldest = event.occurred_at if oldest is None else min(oldest, event.occurred_at)
        result.lag = 0.0 if oldest is None else (published_at - oldest).total_seconds()
        self.metrics.published.inc(result.published)
        self.metrics.duplicates.inc(result.duplicates)
        self.metrics.rejected.inc(result.rejected)
        self.totals.add(result)
        if result.active:
            log.info(
                "batch: %d published, %d already in stream, %d held, %d rejected; lag %.3fs; "
                "events %s … %s",
                result.published,
                result.duplicates,
                result.held,
                result.rejected,
                result.lag,
                events[0].id,
                events[-1].id,
            )

    def _note_parked(
        self, events: list[OutboxEvent], parked: list[str], errors: dict[str, str]
    ) -> None:
        by_id = {event.id: event for event in events}
        for event_id, error in errors.items():
            event = by_id[event_id]
            if event_id in parked:
                log.error(
                    "event %s (gateway %s v%d) parked after %d rejections: %s; later events of "
                    "this gateway wait until it is released",
                    event_id,
                    event.aggregate_id,
                    event.version,
                    self._settings.max_publish_attempts,
                    error,
                )
                block(self._blocked, event.aggregate_id, event.version)
                self.metrics.parked.inc()
            else:
                log.warning(
                    "event %s (gateway %s v%d) rejected by Redis: %s",
                    event_id,
                    event.aggregate_id,
                    event.version,
                    error,
                )

    # -- housekeeping ----------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = self._monotonic()
        if now >= self._stats_due:
            self._stats_due = now + self._settings.stats_interval
            self._refresh_parked()
            # Otherwise the last (partial) batch gave the backlog exactly.
            if self._draining or self._blocked:
                self.metrics.backlog.set(self._reader.backlog())
        if self._purges() and now >= self._purge_due:
            self._purge_due = now + PURGE_INTERVAL
            before = self._clock() - timedelta(seconds=self._settings.retention)
            removed = self._reader.purge_published(before=before)
            if removed:
                log.info("removed %d events published before %s (retention)", removed, before)

    def _refresh_parked(self) -> None:
        parked = self._reader.parked()
        self._blocked = blocked_by(parked)
        self.metrics.parked.set(len(parked))

    def _purges(self) -> bool:
        # MongoDB expires published events with its TTL index; the in-memory store has none.
        return isinstance(self._store, MemoryStore) and self._settings.retention > 0

    def _observe(self, batch: list[OutboxEvent], result: BatchResult) -> None:
        """Cheap gauges from the batch itself; a full count only every stats interval."""
        if not result.full and not self._blocked:
            self.metrics.backlog.set(result.held + result.rejected)
        waiting = [e.occurred_at for e in batch][:1] if result.full or result.held else []
        if waiting:
            self.metrics.oldest_age.set(max(0.0, (self._clock() - waiting[0]).total_seconds()))
        else:
            self.metrics.oldest_age.set(0.0)

    def _show_leader(self, leader: bool) -> None:
        self.metrics.lease_holder.set(1 if leader else 0)
        self.metrics.lease_token.set(self.lease.token or 0)

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
            self._loop()
        finally:
            if self._wakeup is not None:
                self._wakeup.stop()
            self._shutdown()

    def _loop(self) -> None:
        idle = 0
        outage = _Outage(self.metrics, monotonic=self._monotonic)
        while not self._stopping.is_set():
            self._last_loop = self._monotonic()
            self._wake.clear()
            try:
                result = self.run_once()
            except BackendUnavailable as error:
                self._wait(outage.failed(error, self._settings.probe_interval, self._random))
                continue
            except LeaseLost as error:
                log.warning("%s; standing by", error)
                self.lease.forget()
                self._show_leader(False)
                self._wait(self._standby_wait())
                continue
            outage.recovered()
            if not result.leader:
                self._wait(self._standby_wait())
            elif not result.more:
                idle = 0 if result.active else idle + 1
                self._wait(
                    poll_wait(idle, short=self._settings.poll_min, long=self._settings.poll_max)
                )

    def drain(self, *, lease_wait: float) -> Totals:
        """`--once`: take the lease (waiting up to `lease_wait` seconds), publish everything
        that can go, release the lease. Raises Conflict if another relay kept the lease."""
        deadline = self._monotonic() + lease_wait
        while not self.lease.acquire():
            if self._stopping.is_set() or self._monotonic() >= deadline:
                raise Conflict(self._held_by_other())
            self._wait(min(0.5, lease_wait / 10))
        self._show_leader(True)
        self._refresh_parked()
        try:
            while not self._stopping.is_set():
                result = self.run_once()
                if not result.more:
                    break
        finally:
            self._shutdown()
        return self.totals

    def stop(self) -> None:
        """Finish the batch in flight, then return from run() or drain()."""
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

    def _wait(self, seconds: float) -> None:
        self._wait_for(seconds)

    def _standby_wait(self) -> float:
        # Often enough to take over well within the lease time once the holder is gone.
        return min(self._settings.poll_max, self._settings.lease_seconds / 4)

    def _held_by_other(self) -> str:
        holder = self.lease.holder()
        if holder is None or holder.owner is None:
            return f"could not take lease {self.lease.name}"
        return (
            f"lease {self.lease.name} is held by relay {holder.owner} until "
            f"{holder.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )

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


class _Outage:
    """Logs and counts once when a backend goes away and once when it is back, not once per
    retry; no retry waits longer than the probe interval, so publishing resumes within it."""

    def __init__(self, metrics: RelayMetrics, *, monotonic: Callable[[], float]) -> None:
        self.backend: str | None = None
        self.attempts = 0
        self.since = 0.0
        self._metrics = metrics
        self._monotonic = monotonic

    def failed(
        self, error: BackendUnavailable, probe_interval: float, random: Callable[[], float]
    ) -> float:
        backend = "redis" if isinstance(error, StreamUnavailable) else "mongodb"
        self.attempts += 1
        if backend != self.backend:
            if self.backend is None:
                self.since = self._monotonic()
            self._metrics.outages.labels(backend=backend).inc()
            log.warning("%s; retrying with back-off (at most %.1fs apart)", error, probe_interval)
            self.backend = backend
        else:
            log.debug("still failing (attempt %d): %s", self.attempts, error)
        return backoff(self.attempts, base=RETRY_BASE, cap=probe_interval, random=random)

    def recovered(self) -> None:
        if self.backend is not None:
            log.info(
                "%s reachable again after %d failed attempts (%.1fs); resuming",
                "Redis" if self.backend == "redis" else "MongoDB",
                self.attempts,
                self._monotonic() - self.since,
            )
        self.backend = None
        self.attempts = 0
