"""The relay's reads and writes of the outbox, over the `Events` repository.

No transactions: the batch is read with plain queries, marked with one `update_many`, and a
rejected event's attempts are counted with single-document updates. A document that is not an
event comes back as `Unreadable` from every read, and is parked where it lies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from datetime import datetime
from typing import Any

from outbox.domain.event_documents import (
    PREFIX,
    Read,
    Readings,
    Unreadable,
    integer,
    name_of,
    unreadable,
)
from outbox.domain.events import OutboxEvent
from outbox.store.port import Store
from outbox.store.repository import Events
from relay import ordering
from relay.layout import UNPARTITIONED, Layout


class OutboxReader:
    def __init__(
        self,
        store: Store,
        *,
        layout: Layout = UNPARTITIONED,
        owned: Callable[[], Set[int]] | None = None,
    ) -> None:
        """`layout`: the partitions the store records (none: one, of every event); `owned`:
        those this relay may publish now (all, without it). Their events are read in one
        `$in` query where the store records partitions."""
        self._events = Events(store)
        self._layout = layout
        self._owned = owned or (lambda: frozenset(range(layout.count)))

    def fetch(self, limit: int, *, blocked: Mapping[str, int] | None = None) -> Readings:
        """The oldest unpublished, unparked documents of the owned partitions in commit order,
        leaving out each blocked gateway's versions from its barrier up (held up by a parked
        event, they would otherwise fill every batch); a barrier of 0 or 1 leaves out the whole
        gateway. Events that belong to no partition come back unreadable (to be parked)."""
        owned = self._owned()
        if not owned:
            return Readings([], [])
        partitions = self._layout.stored(owned)
        readings = self._events.unpublished(limit, leaving_out=blocked, partitions=partitions)
        return _routable(readings, self._layout)

    def unpublished_below(self, batch: Sequence[OutboxEvent]) -> list[ordering.Row | Unreadable]:
        """The unpublished documents (parked too) of the batch's gateways below the batch's
        highest version: everything that may have to go before an event of the batch. A row
        that is no event id and version comes back `Unreadable`."""
        if not batch:
            return []
        rows = self._events.unpublished_below(
            sorted({event.aggregate_id for event in batch}),
            max(event.version for event in batch),
            # The batch's own events are left out: fewer rows to send back.
            excluding=[event.id for event in batch],
        )
        return [_row(row) for row in rows]

    def by_ids(self, ids: Sequence[str]) -> Readings:
        return self._events.unpublished_among(ids)

    def mark_published(self, events: Sequence[OutboxEvent], *, at: datetime) -> int:
        return self._events.mark_published([event.id for event in events], at=at)

    def record_rejections(self, errors: Mapping[str, str], *, park_after: int) -> list[str]:
        """Count one more rejection per event; park those that reached `park_after`.

        Returns the ids parked now. Rare, so one update per event is fine.
        """
        parked = []
        for event_id, error in errors.items():
            attempts = self._events.count_rejection(event_id, error)
            if attempts is not None and attempts >= park_after:
                self._events.park(event_id)
                parked.append(event_id)
        return parked

    def park_unreadable(self, documents: Sequence[Unreadable]) -> list[Unreadable]:
        """Park documents that are not events, with their reason; returns those parked now
        (not published or parked by someone else in the meantime)."""
        return [
            document
            for document in documents
            if self._events.park(document.key, reason=document.reason)
        ]

    def parked(self) -> list[Read]:
        return self._events.parked()

    def unpark(self, names: Sequence[str] | None = None) -> int:
        """Give parked documents (these, by their ids as `parked()` names them, or all) a fresh
        set of attempts; the relay picks them up within OUTBOX_STATS_INTERVAL, in order with
        the events they held up. One still unreadable is parked again, with its reason."""
        if names is None:
            return self._events.unpark()
        # By the stored `_id`: an ObjectId is named by its hex digits, not stored as them.
        keys = [item.id if isinstance(item, OutboxEvent) else item.key for item in self.parked()]
        wanted = set(names)
        return self._events.unpark([key for key in keys if name_of(key) in wanted])

    def highest_published(self) -> dict[str, int]:
        """Each gateway's highest published version (seeding the stream's marks)."""
        return self._events.highest_published()

    def highest_among(self, ids: Sequence[str]) -> dict[str, int]:
        """Each gateway's highest version among these event ids."""
        return self._events.highest_among(ids)

    def backlog(self) -> int:
        """Unpublished events that are not parked (a full count: call it sparingly)."""
        return self._events.backlog()


def _routable(readings: Readings, layout: Layout) -> Readings:
    """Events whose partition is not their gateway's under P (none, or stamped under another P)
    cannot go to their stream: unreadable, to be parked."""
    events: list[OutboxEvent] = []
    unreadable_ones = list(readings.unreadable)
    for event in readings.events:
        if layout.partition(event) is not None:
            events.append(event)
        else:
            reason = (
                f"{PREFIX}partition {event.partition!r} is not its gateway's among the "
                f"{layout.count} recorded partitions; `outbox init` gives every event its "
                "partition"
            )
            unreadable_ones.append(unreadable(event.to_document(), reason))
    return Readings(events, unreadable_ones)


def _row(document: dict[str, Any]) -> ordering.Row | Unreadable:
    key = document["_id"]
    gateway = document.get("aggregate_id")
    version = document.get("version")
    number = integer(version)
    if not isinstance(key, str):
        return unreadable(
            document, f"{PREFIX}_id is of type {type(key).__name__}, not a string event id"
        )
    if not isinstance(gateway, str) or number is None:
        return unreadable(document, f"{PREFIX}version {version!r} is not an integer")
    return ordering.Row(key, gateway, number, bool(document.get("parked")))
