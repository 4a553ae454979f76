"""What the relay looks after between batches: the documents it parks and which gateways parked
events hold up, how far each gateway is settled, the backlog gauges, and the retention purge.

A full backlog count is slow on a large outbox: it runs once per stats interval, and a partial
batch gives the backlog exactly in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from outbox.domain.clock import Clock
from outbox.domain.event_documents import Unreadable
from outbox.domain.events import OutboxEvent
from outbox.store.port import Store
from relay import ordering
from relay.accounting import BatchResult
from relay.barriers import barrier_rows, block, blocked_by
from relay.metrics import RelayMetrics
from relay.outbox_reader import OutboxReader
from relay.settings import RelaySettings

log = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0  # seconds between retention purges


class Housekeeping:
    def __init__(
        self,
        store: Store,
        reader: OutboxReader,
        settings: RelaySettings,
        metrics: RelayMetrics,
        *,
        clock: Clock,
        monotonic: Callable[[], float],
    ) -> None:
        self._store = store
        self._reader = reader
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        # Gateways held up by a parked document, each from its lowest parked version on.
        self.blocked: dict[str, int] = {}
        # Per gateway, a version at or below which nothing can still need to go first: the
        # highest this relay saw reach the stream and marked (`ordering.unproven`).
        self.settled: dict[str, int] = {}
        self.draining = False  # the last fetch hit the batch limit
        self._stats_due = monotonic() + settings.stats_interval  # the first count waits
        self._purge_due = 0.0

    def block(self, gateway: str, version: int) -> None:
        """Hold up `gateway` from `version` on (a document of it was parked)."""
        block(self.blocked, gateway, version)

    def set_aside(self, documents: list[Unreadable], result: BatchResult) -> list[ordering.Row]:
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
            self._metrics.parked.inc()
        rows = barrier_rows(documents)
        for row in rows:
            self.block(row.aggregate_id, row.version)
        return rows

    def refresh_parked(self) -> None:
        """Read which events are parked (`outbox relay unpark` releases them meanwhile).

        What is settled is forgotten too, so it is trusted for one stats interval at most and
        never across leaders: a release, a repair or a restore of the outbox counts from then.
        """
        self.settled = {}
        parked = self._reader.parked()
        self.blocked = blocked_by(parked)
        self._metrics.parked.set(len(parked))

    def run_due(self) -> None:
        """Count the backlog and purge when their intervals are up."""
        now = self._monotonic()
        if now >= self._stats_due:
            self._stats_due = now + self._settings.stats_interval
            self.refresh_parked()
            # Otherwise the last (partial) batch gave the backlog exactly.
            if self.draining or self.blocked:
                self._metrics.backlog.set(self._reader.backlog())
        if self._settings.retention > 0 and now >= self._purge_due:  # 0: kept forever
            self._purge_due = now + PURGE_INTERVAL
            self._purge()

    def observe(self, batch: Sequence[OutboxEvent], result: BatchResult) -> None:
        """Cheap gauges from the batch itself; the full count waits for its interval."""
        if not result.full and not self.blocked:
            self._metrics.backlog.set(result.held + result.rejected)
        if batch and (result.full or result.held):
            age = (self._clock() - batch[0].occurred_at).total_seconds()
            self._metrics.oldest_age.set(max(0.0, age))
        else:
            self._metrics.oldest_age.set(0.0)

    def _purge(self) -> None:
        # The store decides how: MongoDB's TTL index expires them itself (0 removed here).
        before = self._clock() - timedelta(seconds=self._settings.retention)
        removed = self._store.purge_published(before=before)
        if removed:
            log.info("removed %d events published before %s (retention)", removed, before)
