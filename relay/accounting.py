"""What the relay did: one batch's result, the totals since it started, and the metrics and log
lines that report them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from outbox.domain.events import OutboxEvent
from outbox.runtime.logs import ids
from outbox.stream import Publication
from relay.log_summary import LogSummary
from relay.metrics import RelayMetrics

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one `run_once()` did, and how long the loop waits before the next."""

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
    wait: float = 0.0  # seconds until the next turn of run()

    @property
    def active(self) -> bool:
        return bool(self.published or self.duplicates or self.rejected or self.unreadable)

    @property
    def more(self) -> bool:
        """Poll again at once: the batch was full and it made progress."""
        return self.full and self.active


@dataclass
class Totals:
    """What the relay did until now: logged when it stops, returned by `drain()` (`--once`)."""

    batches: int = 0
    published: int = 0
    duplicates: int = 0
    parked: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1 if result.active else 0
        self.published += result.published
        self.duplicates += result.duplicates
        self.parked += len(result.parked)


class Accounting:
    """Counts each batch's outcomes into its result, the metrics and the totals."""

    def __init__(self, metrics: RelayMetrics, max_publish_attempts: int) -> None:
        self.totals = Totals()
        self._metrics = metrics
        self._max_publish_attempts = max_publish_attempts
        self._summary = LogSummary()

    def published(
        self,
        events: Sequence[OutboxEvent],
        outcomes: Sequence[Publication],
        published_at: datetime,
        result: BatchResult,
    ) -> None:
        """Count what Redis said about each event of a publish round trip."""
        oldest: datetime | None = None
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome.held:
                result.held += 1
            elif not outcome.published:
                result.rejected += 1
            elif outcome.duplicate:
                result.duplicates += 1
            else:
                result.published += 1
                since_commit = (published_at - event.occurred_at).total_seconds()
                self._metrics.latency.observe(max(0.0, since_commit))
                oldest = event.occurred_at if oldest is None else min(oldest, event.occurred_at)
        result.lag = 0.0 if oldest is None else (published_at - oldest).total_seconds()
        self._metrics.published.inc(result.published)
        self._metrics.duplicates.inc(result.duplicates)
        self._metrics.rejected.inc(result.rejected)
        self.totals.add(result)
        if result.active:
            _log_batch(result, events)
            self._summary.add(
                published=result.published, duplicates=result.duplicates, lag=result.lag
            )

    def rejected(
        self, events: Sequence[OutboxEvent], parked: Sequence[str], errors: dict[str, str]
    ) -> list[OutboxEvent]:
        """Report the events Redis rejected; returns those parked for good."""
        by_id = {event.id: event for event in events}
        parked_events = [by_id[event_id] for event_id in errors if event_id in parked]
        for event_id, error in errors.items():
            event = by_id[event_id]
            if event_id in parked:
                log.error(
                    "event %s (gateway %s v%d) parked after %d rejections: %s; later events of "
                    "this gateway wait until it is released",
                    event_id,
                    event.aggregate_id,
                    event.version,
                    self._max_publish_attempts,
                    error,
                    extra=ids(
                        event_id=event_id, gateway_id=event.aggregate_id, version=event.version
                    ),
                )
                self._metrics.parked.inc()
            else:
                log.warning(
                    "event %s (gateway %s v%d) rejected by Redis: %s",
                    event_id,
                    event.aggregate_id,
                    event.version,
                    error,
                    extra=ids(
                        event_id=event_id, gateway_id=event.aggregate_id, version=event.version
                    ),
                )
        return parked_events


def _log_batch(result: BatchResult, events: Sequence[OutboxEvent]) -> None:
    """DEBUG: every batch, naming its events; the INFO summary is relay/log_summary.py's."""
    log.debug(
        "batch: %d published, %d already in stream, %d held, %d rejected; lag %.3fs; %s",
        result.published,
        result.duplicates,
        result.held,
        result.rejected,
        result.lag,
        ", ".join(f"{e.aggregate_id} v{e.version} ({e.id})" for e in events[:BATCH_NAMES])
        + (f" and {len(events) - BATCH_NAMES} more" if len(events) > BATCH_NAMES else ""),
        extra=ids(event_id=events[0].id, gateway_id=events[0].aggregate_id)
        if len(events) == 1
        else None,
    )
    if result.duplicates:  # unusual: a previous attempt got this far, or a second relay did
        log.info(
            "%d event(s) of this batch were already in the stream (marked published now)",
            result.duplicates,
        )


BATCH_NAMES = 5  # events a batch's DEBUG line names
