"""The consumer half of the provisioner: what happens to a stream entry once a reader has it.

An entry is parsed and its gateway handed to the workers; once the gateway's step has
committed, the entry is acked, never before. What can never be handled (unparsable, delivered
too often, naming a gateway the database does not have) goes to the dead-letter stream; what
failed stays pending and comes back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from outbox.domain.errors import BackendUnavailable
from outbox.runtime.logs import ids
from outbox.stream import Claimed, EventStream
from provisioner.entries import GatewayEvent, Poison, parse_entry
from provisioner.metrics import DELIVERIES, STREAM, UNKNOWN_GATEWAY, UNPARSABLE, ProvisionerMetrics
from provisioner.reconciler import Outcome
from provisioner.settings import ProvisionerSettings
from provisioner.totals import Totals

log = logging.getLogger(__name__)

# Entries for unknown gateways in a row that suggest the wrong database rather than bad entries.
UNKNOWN_STREAK = 10

Done = Callable[[Outcome | None], None]
Submit = Callable[[str, str, Done], None]  # gateway id, trigger, what to do when its pass ends


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


class Consumer:
    def __init__(
        self,
        *,
        settings: ProvisionerSettings,
        submit: Submit,
        owns: Callable[[str], bool],
        metrics: ProvisionerMetrics,
        totals: Totals,
    ) -> None:
        """`owns` says whether this replica may ack for a gateway now (its partition's lease)."""
        self._settings = settings
        self._submit = submit
        self._owns = owns
        self._metrics = metrics
        self._totals = totals
        self._unknown = _Streak()

    def claimed(self, stream: EventStream, claimed: Claimed) -> None:
        """An entry taken back from the pending list (this consumer's or another's)."""
        if claimed.fields is None:
            # Trimmed or deleted while pending: nothing to hand over; the sweeper covers it.
            stream.ack(claimed.entry_id)
            return
        if claimed.deliveries > self._settings.max_deliveries:
            reason = f"delivered {claimed.deliveries - 1} times without an ack"
            letter = _Letter(stream, claimed.entry_id, claimed.fields, claimed.deliveries)
            self._dead_letter(letter, reason, DELIVERIES)
            return
        self.entry(stream, claimed.entry_id, claimed.fields, claimed.deliveries)

    def entry(
        self, stream: EventStream, entry_id: str, fields: dict[str, str], deliveries: int
    ) -> None:
        """An entry read: its gateway to the workers, or the entry to the dead-letter stream."""
        letter = _Letter(stream, entry_id, fields, deliveries)
        parsed = parse_entry(entry_id, fields, max_bytes=self._settings.max_entry_bytes)
        if isinstance(parsed, Poison):
            self._dead_letter(letter, parsed.reason, UNPARSABLE)
            return

        def done(outcome: Outcome | None) -> None:
            self._finish(parsed, outcome, letter)

        self._submit(parsed.gateway_id, STREAM, done)

    def _finish(self, event: GatewayEvent, outcome: Outcome | None, letter: _Letter) -> None:
        if outcome is Outcome.NOT_OWNED:
            return  # left pending: the partition's new owner claims the entry
        try:
            if outcome is Outcome.MISSING:
                self._unknown_gateway(event, letter)
                return
            ok = outcome is not None and self._ack(event, letter.stream)
        except BackendUnavailable as error:
            # Neither acked nor dead-lettered: it stays pending and comes back.
            log.warning(
                "entry %s handled but left pending: %s",
                event.entry_id,
                error,
                extra=ids(entry_id=event.entry_id, gateway_id=event.gateway_id),
            )
            ok = False
        self._metrics.events_handled.labels(str(event.type), "acked" if ok else "failed").inc()
        self._totals.handled(ok=ok)

    def _ack(self, event: GatewayEvent, stream: EventStream) -> bool:
        if not self._owns(event.gateway_id):
            return False  # the partition moved on: its new owner claims the entry
        stream.ack(event.entry_id)
        self._unknown.reset()
        return True

    def _unknown_gateway(self, event: GatewayEvent, letter: _Letter) -> None:
        database = self._settings.database
        reason = f"{UNKNOWN_GATEWAY}: no gateway {event.gateway_id} in database {database}"
        self._dead_letter(letter, reason, UNKNOWN_GATEWAY)
        if self._unknown.extend() == UNKNOWN_STREAK:
            # Once per streak: every entry naming an unknown gateway points at the wrong database.
            log.error(
                "%d consecutive unknown gateways: check OUTBOX_DATABASE (this provisioner reads "
                "database %r)",
                UNKNOWN_STREAK,
                database,
            )

    def _dead_letter(self, letter: _Letter, reason: str, kind: str) -> None:
        fields = letter.fields
        log.warning(
            "dead-lettering entry %s (event %s, gateway %s): %s; `outbox dlq replay %s` or "
            "`outbox dlq drop %s` takes this id",
            letter.entry_id,
            fields.get("event_id", "?"),
            fields.get("aggregate_id", "?"),
            reason,
            letter.entry_id,
            letter.entry_id,
            extra=ids(
                entry_id=letter.entry_id,
                event_id=fields.get("event_id"),
                gateway_id=fields.get("aggregate_id"),
                consumer=self._settings.consumer,
            ),
        )
        letter.stream.dead_letter(letter.entry_id, fields, reason, letter.deliveries)
        self._metrics.dead_lettered.labels(kind).inc()
        self._totals.add_dead_lettered()


@dataclass(frozen=True)
class _Letter:
    """An entry as it would go to the dead-letter stream: where it came from, and how often."""

    stream: EventStream
    entry_id: str
    fields: dict[str, str]
    deliveries: int
