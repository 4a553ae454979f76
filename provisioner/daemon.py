"""The provisioner daemon: reads the stream in its group, hands gateways to the pool, sweeps.

`run()` only loops over `run_once()` until `stop()`; `drain()` is `--once`. Entries are acked
after the gateway's step has committed, never before; whatever is not acked stays pending and is
reclaimed, and whatever can never be handled goes to the dead-letter stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from outbox.clock import Clock, utcnow
from outbox.errors import BackendUnavailable
from provisioner.entries import GatewayEvent, Poison, parse_entry
from provisioner.metrics import ProvisionerMetrics
from provisioner.pool import KeyedPool
from provisioner.reconciler import Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.stream import Claimed, GroupStream
from provisioner.sweeper import Sweeper

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Tally:
    acked: int = 0
    failed: int = 0
    dead_lettered: int = 0


class Provisioner:
    def __init__(
        self,
        *,
        settings: ProvisionerSettings,
        stream: GroupStream,
        reconciler: Reconciler,
        sweeper: Sweeper,
        metrics: ProvisionerMetrics | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._stream = stream
        self._reconciler = reconciler
        self._sweeper = sweeper
        self.metrics = metrics or ProvisionerMetrics()
        self._clock = clock
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._pool = KeyedPool(workers=settings.workers, handle=self._reconcile, name="gateway")
        self._next_sweep = 0.0
        self._next_drift = 0.0
        self._next_reclaim = 0.0
        self._outage: str | None = None
        self._tally_lock = threading.Lock()
        self.tally = Tally()
        self.last_loop = monotonic()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Join the group and take back what this consumer left pending when it last stopped."""
        self._stream.ensure_group()
        for claimed in self._stream.claim_own_pending(count=10_000):
            self._dispatch_claimed(claimed)

    def run(self) -> None:
        log.info(
            "provisioner %s consuming %s in group %s with %d workers",
            self._settings.consumer,
            self._settings.stream,
            self._settings.group,
            self._settings.workers,
        )
        self._until_started()
        while not self._stop.is_set():
            began = self._monotonic()
            read = self._guarded(self.run_once)
            if read == 0 and self._monotonic() - began < 0.01:
                # A server that does not honour BLOCK (an embedded fake) must not make us spin.
                self._stop.wait(0.05)
        self.shutdown()

    def run_once(self, *, block_ms: int = 500) -> int:
        """One turn: reclaim and sweep when due, then read and dispatch new entries."""
        self.last_loop = self._monotonic()
        if self._monotonic() >= self._next_reclaim:
            self.reclaim()
        if self._monotonic() >= self._next_sweep:
            self.sweep()
        self.metrics.in_flight.set(self._pool.busy)
        if self._pool.busy >= self._settings.workers * 4:
            self._stop.wait(0.05)  # back-pressure: let the workers catch up before reading more
            return 0
        entries = self._stream.read_new(count=self._settings.batch_size, block_ms=block_ms)
        for entry_id, fields in entries:
            self._dispatch(entry_id, fields, deliveries=1)
        self._recovered()
        return len(entries)

    def stop(self) -> None:
        self._stop.set()

    def ping_redis(self) -> None:
        self._stream.ping()

    def alive(self) -> bool:
        """The loop has turned recently (a stuck loop fails the liveness probe)."""
        return self._monotonic() - self.last_loop < max(60.0, self._settings.sweep_interval * 3)

    def shutdown(self) -> None:
        in_hand = self._pool.active
        finished = self._pool.shutdown(self._settings.grace_seconds)
        log.info(
            "shutdown: %d acked, %d failed, %d dead-lettered; %s",
            self.tally.acked,
            self.tally.failed,
            self.tally.dead_lettered,
            f"{in_hand} in flight finished"
            if finished
            else "grace period over, the rest stays pending",
        )

    def drain(self) -> Tally:
        """`--once`: reclaim, own pending, everything new, one sweep; no waiting for rollouts."""
        self.start()
        self.reclaim()
        while entries := self._stream.read_new(count=self._settings.batch_size, block_ms=None):
            for entry_id, fields in entries:
                self._dispatch(entry_id, fields, deliveries=1)
        self._pool.wait_idle()
        self.sweep()
        self._pool.wait_idle()
        self._pool.shutdown(0)
        return self.tally

    # -- work -----------------------------------------------------------------------------------

    def reclaim(self) -> None:
        idle_ms = int(self._settings.reclaim_idle * 1000)
        for claimed in self._stream.reclaim_idle(
            min_idle_ms=idle_ms, count=self._settings.batch_size
        ):
            self._dispatch_claimed(claimed)
        self._forget_idle_consumers()
        self._next_reclaim = self._monotonic() + self._settings.reclaim_idle / 2

    def sweep(self, *, drift: bool | None = None) -> int:
        """Hand every gateway that needs a look to the pool; `drift` forces (or skips) the
        slower drift check of resting gateways, which otherwise runs when due."""
        now = self._clock()
        ids = self._sweeper.due(now)
        if drift or (drift is None and self._monotonic() >= self._next_drift):
            ids += [
                gateway_id
                for gateway_id in self._sweeper.resting_started()
                if gateway_id not in ids
            ]
            self._next_drift = self._monotonic() + self._settings.drift_interval
        for gateway_id in ids:
            self._pool.submit(gateway_id)
        census = self._sweeper.census(now)
        for phase, count in census.per_phase.items():
            self.metrics.gateways.labels(phase).set(count)
        self.metrics.retries_pending.set(census.retries_pending)
        self._next_sweep = self._monotonic() + self._settings.sweep_interval
        if ids:
            log.debug("sweep: %d gateways to look at", len(ids))
        return len(ids)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._pool.wait_idle(timeout)

    def _dispatch_claimed(self, claimed: Claimed) -> None:
        if claimed.fields is None:
            # Trimmed or deleted while pending: nothing to hand over; the sweeper covers it.
            self._stream.ack(claimed.entry_id)
            return
        if claimed.deliveries > self._settings.max_deliveries:
            reason = f"delivered {claimed.deliveries - 1} times without an ack"
            self._dead_letter(
                claimed.entry_id, claimed.fields, reason, claimed.deliveries, "deliveries"
            )
            return
        self._dispatch(claimed.entry_id, claimed.fields, deliveries=claimed.deliveries)

    def _dispatch(self, entry_id: str, fields: dict[str, str], *, deliveries: int) -> None:
        parsed = parse_entry(entry_id, fields, max_bytes=self._settings.max_entry_bytes)
        if isinstance(parsed, Poison):
            self._dead_letter(entry_id, fields, parsed.reason, deliveries, "unparsable")
            return
        self._pool.submit(parsed.gateway_id, lambda ok: self._finish(parsed, ok))

    def _finish(self, event: GatewayEvent, ok: bool) -> None:
        if ok:
            try:
                self._stream.ack(event.entry_id)
            except BackendUnavailable as error:
                # The step committed; a redelivery only repeats an idempotent look.
                log.warning("entry %s handled but not acked: %s", event.entry_id, error)
                ok = False
        outcome = "acked" if ok else "failed"
        self.metrics.events_handled.labels(str(event.type), outcome).inc()
        with self._tally_lock:
            if ok:
                self.tally.acked += 1
            else:
                self.tally.failed += 1

    def _dead_letter(
        self, entry_id: str, fields: dict[str, str], reason: str, deliveries: int, kind: str
    ) -> None:
        log.warning(
            "dead-lettering entry %s (%s): %s", entry_id, fields.get("event_id", "?"), reason
        )
        self._stream.dead_letter(entry_id, fields, reason, deliveries)
        self.metrics.dead_lettered.labels(kind).inc()
        with self._tally_lock:
            self.tally.dead_lettered += 1

    def _reconcile(self, gateway_id: str) -> None:
        began = self._monotonic()
        with self.metrics.reconcile_seconds.time():
            self._reconciler.reconcile(gateway_id)
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

    def _until_started(self) -> None:
        def started() -> bool:
            self.start()
            return True

        while not self._stop.is_set():
            if self._guarded(started):
                return

    def _guarded(self, work: Callable[[], T]) -> T | None:
        """Run `work`; on an outage log once (not once per retry), wait a little, return None."""
        try:
            return work()
        except BackendUnavailable as error:
            if self._outage != str(error):
                log.warning("backend unavailable, retrying until it is back: %s", error)
                self._outage = str(error)
            self._stop.wait(2.0)
            return None

    def _recovered(self) -> None:
        if self._outage is not None:
            log.info("backends reachable again")
            self._outage = None
