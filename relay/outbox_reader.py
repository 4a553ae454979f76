"""The relay's reads and writes of the outbox collection, through the store port.

No transactions: the batch is read with plain queries, marked with one `update_many`, and a
rejected event's attempts are counted with single-document updates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

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

    def fetch(self, limit: int, *, skip_gateways: Collection[str] = ()) -> list[OutboxEvent]:
        """The oldest unpublished, unparked events in commit order, leaving out `skip_gateways`
        (those held up by a parked event, which would otherwise fill every batch)."""
        query: dict[str, Any] = {**UNPUBLISHED, **NOT_PARKED}
        if skip_gateways:
            query["aggregate_id"] = {"$nin": sorted(skip_gateways)}
        documents = self._outbox.find(query, sort=[("occurred_at", 1)], limit=limit)
        return [OutboxEvent.from_document(document) for document in documents]

    def unpublished_below(self, batch: Sequence[OutboxEvent]) -> list[ordering.Row]:
        """The unpublished events (parked too) of the batch's gateways below the batch's highest
        version: everything that may have to go before an event of the batch."""
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
        return [
            ordering.Row(
                row["_id"], row["aggregate_id"], int(row["version"]), bool(row.get("parked"))
            )
            for row in rows
        ]

    def by_ids(self, ids: Sequence[str]) -> list[OutboxEvent]:
        if not ids:
            return []
        documents = self._outbox.find({"_id": {"$in": list(ids)}, **UNPUBLISHED, **NOT_PARKED})
        return [OutboxEvent.from_document(document) for document in documents]

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

    def parked(self) -> list[OutboxEvent]:
        documents = self._outbox.find({**UNPUBLISHED, "parked": True}, sort=[("occurred_at", 1)])
        return [OutboxEvent.from_document(document) for document in documents]

    def unpark(self, event_ids: Sequence[str] | None = None) -> int:
        """Give parked events (these, or all) a fresh set of attempts; the relay picks them up
        within OUTBOX_STATS_INTERVAL, in order with the events they held up."""
        query: dict[str, Any] = {**UNPUBLISHED, "parked": True}
        if event_ids is not None:
            query["_id"] = {"$in": list(event_ids)}
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
        return OutboxEvent.from_document(found[0]).occurred_at if found else None

    def purge_published(self, *, before: datetime) -> int:
        """Delete events published before `before` (for stores without a TTL index)."""
        return self._outbox.delete_many({"published_at": {"$lt": before}})
