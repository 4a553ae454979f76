"""The relay's reads and writes of the outbox collection, through the store port.

No transactions: the batch is read with plain queries, marked with one `update_many`, and a
rejected event's attempts are counted with single-document updates. A document that is not an
event comes back as `Unreadable` from every read, and is parked where it lies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from outbox.event_documents import (
    PREFIX,
    Read,
    Readings,
    Unreadable,
    integer,
    name_of,
    read_all,
    read_event,
    unreadable,
)
from outbox.events import OutboxEvent
from outbox.store import OUTBOX, Store
from relay import ordering

UNPUBLISHED: dict[str, Any] = {"published_at": None}
NOT_PARKED: dict[str, Any] = {"parked": {"$ne": True}}
# Some servers (nx-27017) count `{field: None}` wrongly; `$in: [None]` means the same.
UNPUBLISHED_FOR_COUNT: dict[str, Any] = {"published_at": {"$in": [None]}}


class OutboxReader:
    def __init__(self, store: Store) -> None:
        self._outbox = store.collection(OUTBOX)

    def fetch(self, limit: int, *, blocked: Mapping[str, int] | None = None) -> Readings:
        """The oldest unpublished, unparked documents in commit order, leaving out each blocked
        gateway's versions from its barrier up (held up by a parked event, they would otherwise
        fill every batch); a barrier of 0 or 1 leaves out the whole gateway."""
        query: dict[str, Any] = {**UNPUBLISHED, **NOT_PARKED}
        query.update(_leaving_out(blocked or {}))
        documents = self._outbox.find(query, sort=[("occurred_at", 1)], limit=limit)
        return read_all(documents)

    def unpublished_below(self, batch: Sequence[OutboxEvent]) -> list[ordering.Row | Unreadable]:
        """The unpublished documents (parked too) of the batch's gateways below the batch's
        highest version: everything that may have to go before an event of the batch. A row
        that is no event id and version comes back `Unreadable`."""
        if not batch:
            return []
        gateways = sorted({event.aggregate_id for event in batch})
        highest = max(event.version for event in batch)
        rows = self._outbox.find(
            # published_at first: servers without a planner (nx-27017) pick the index by it;
            # then the cheap version bound before the long `$in` (mongomock tests in order).
            # The batch's own events are left out: fewer rows to send back.
            {
                **UNPUBLISHED,
                "version": {"$lt": highest},
                "aggregate_id": {"$in": gateways},
                "_id": {"$nin": [event.id for event in batch]},
            },
            projection={"aggregate_id": 1, "version": 1, "parked": 1},
        )
        return [_row(row) for row in rows]

    def by_ids(self, ids: Sequence[str]) -> Readings:
        if not ids:
            return Readings([], [])
        documents = self._outbox.find({"_id": {"$in": list(ids)}, **UNPUBLISHED, **NOT_PARKED})
        return read_all(documents)

    def mark_published(self, events: Sequence[OutboxEvent], *, at: datetime) -> int:
        if not events:
            return 0
        return self._outbox.update_many(
            # By id alone: the _id index finds them; an event marked twice (by a relay that
            # lost its lease) only gets a later timestamp.
            {"_id": {"$in": [event.id for event in events]}},
            {"$set": {"published_at": at}},
        )

    def record_rejections(self, errors: Mapping[str, str], *, park_after: int) -> list[str]:
        """Count one more rejection per event; park those that reached `park_after`.

        Returns the ids parked now. Rare, so one update per event is fine.
        """
        parked = []
        for event_id, error in errors.items():
            document = self._outbox.find_one_and_update(
                {"_id": event_id, **UNPUBLISHED},
                {"$inc": {"attempts": 1}, "$set": {"last_error": error}},
            )
            if document is not None and int(document.get("attempts", 0)) >= park_after:
                self._outbox.update_one({"_id": event_id}, {"$set": {"parked": True}})
                parked.append(event_id)
        return parked

    def park_unreadable(self, documents: Sequence[Unreadable]) -> list[Unreadable]:
        """Park documents that are not events, with their reason; returns those parked now
        (not published or parked by someone else in the meantime)."""
        parked = []
        for document in documents:
            # Not `parked: {$ne: True}`: nx-27017 then updates nothing.
            if self._outbox.update_one(
                {"_id": document.key, **UNPUBLISHED},
                {"$set": {"parked": True, "last_error": document.reason}},
            ):
                parked.append(document)
        return parked

    def parked(self) -> list[Read]:
        documents = self._outbox.find({**UNPUBLISHED, "parked": True}, sort=[("occurred_at", 1)])
        return [read_event(document) for document in documents]

    def unpark(self, names: Sequence[str] | None = None) -> int:
        """Give parked documents (these, by their ids as `parked()` names them, or all) a fresh
        set of attempts; the relay picks them up within OUTBOX_STATS_INTERVAL, in order with
        the events they held up. One still unreadable is parked again, with its reason."""
        query: dict[str, Any] = {**UNPUBLISHED, "parked": True}
        if names is not None:
            # By the stored `_id`: an ObjectId is named by its hex digits, not stored as them.
            keys = [
                item.id if isinstance(item, OutboxEvent) else item.key for item in self.parked()
            ]
            wanted = set(names)
            query["_id"] = {"$in": [key for key in keys if name_of(key) in wanted]}
        return self._outbox.update_many(query, {"$set": {"parked": False, "attempts": 0}})

    def backlog(self) -> int:
        """Unpublished events that are not parked (a full count: call it sparingly)."""
        return self._outbox.count_documents({**UNPUBLISHED_FOR_COUNT, **NOT_PARKED})

    def oldest_unpublished(self, *, skip_gateways: Iterable[str] = ()) -> datetime | None:
        query: dict[str, Any] = {**UNPUBLISHED, **NOT_PARKED}
        skip = sorted(skip_gateways)
        if skip:
            query["aggregate_id"] = {"$nin": skip}
        found = self._outbox.find(query, sort=[("occurred_at", 1)], limit=1)
        value = found[0].get("occurred_at") if found else None
        return value if isinstance(value, datetime) else None

    def purge_published(self, *, before: datetime) -> int:
        """Delete events published before `before` (for stores without a TTL index)."""
        return self._outbox.delete_many({"published_at": {"$lt": before}})


def _leaving_out(blocked: Mapping[str, int]) -> dict[str, Any]:
    whole = sorted(gateway for gateway, barrier in blocked.items() if barrier <= 1)
    above = sorted((gateway, barrier) for gateway, barrier in blocked.items() if barrier > 1)
    query: dict[str, Any] = {}
    if whole:
        query["aggregate_id"] = {"$nin": whole}
    if above:
        # nx-27017 matches nothing for `published_at: None` next to `$nor`; `$in` means the same.
        query["published_at"] = {"$in": [None]}
        query["$nor"] = [
            {"aggregate_id": gateway, "version": {"$gte": barrier}} for gateway, barrier in above
        ]
    return query


def _row(document: dict[str, Any]) -> ordering.Row | Unreadable:
    key, gateway, version = document["_id"], document.get("aggregate_id"), document.get("version")
    number = integer(version)
    if not isinstance(key, str):
        return unreadable(
            document, f"{PREFIX}_id is of type {type(key).__name__}, not a string event id"
        )
    if not isinstance(gateway, str) or number is None:
        return unreadable(document, f"{PREFIX}version {version!r} is not an integer")
    return ordering.Row(key, gateway, number, bool(document.get("parked")))
