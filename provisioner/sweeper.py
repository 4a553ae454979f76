"""The sweeper's questions to the store: which gateways need a look now, and how many are where.

Level-triggered recovery: whatever an event failed to bring (lost, trimmed, dead-lettered, or a
retry after a failure), the sweep finds from the documents themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.domain.clock import as_utc
from outbox.domain.model import Phase
from outbox.store.port import GATEWAYS, Store


@dataclass(frozen=True)
class Census:
    per_phase: dict[str, int]
    retries_pending: int


class Sweeper:
    def __init__(
        self, store: Store, *, owned: Callable[[], Set[int] | None] = lambda: None
    ) -> None:
        """`owned` names the partitions whose gateways are swept and resynced (None: all)."""
        self._gateways = store.collection(GATEWAYS)
        self._owned = owned

    def _mine(self, query: dict[str, Any]) -> dict[str, Any]:
        owned = self._owned()
        if owned is None:
            return query
        # The partition first: the (partition, at_rest) and (partition, retry.next_at) indexes.
        return {"partition": {"$in": sorted(owned)}, **query}

    def due(self, now: datetime) -> list[str]:
        """Gateways not at rest (unless waiting out a back-off) and any whose retry is due."""
        unsettled = self._gateways.find(
            self._mine({"at_rest": False}), projection={"_id": 1, "retry": 1}
        )
        due = [document["_id"] for document in unsettled if _retry_due(document, now)]
        retries = self._gateways.find(
            self._mine({"retry.next_at": {"$lte": now}}), projection={"_id": 1}
        )
        return list(dict.fromkeys(due + [document["_id"] for document in retries]))

    def resting_started(self) -> list[str]:
        """Started gateways at rest: checked for drift at a slower pace."""
        documents = self._gateways.find(
            self._mine({"at_rest": True, "phase": str(Phase.STARTED)}), projection={"_id": 1}
        )
        return [document["_id"] for document in documents]

    def census(self, now: datetime) -> Census:
        """Gateways per phase and how many wait out a back-off: counted by the database."""
        groups = self._gateways.aggregate([{"$group": {"_id": "$phase", "count": {"$sum": 1}}}])
        counted = {str(group["_id"]): int(group["count"]) for group in groups}
        waiting = self._gateways.count_documents({"retry.next_at": {"$gt": now}})
        return Census({str(phase): counted.get(str(phase), 0) for phase in Phase}, waiting)


def _retry_due(document: dict[str, object], now: datetime) -> bool:
    retry = document.get("retry")
    next_at = retry.get("next_at") if isinstance(retry, dict) else None
    # Without a back-off to wait out (or one that cannot be read), the gateway is due now.
    return not isinstance(next_at, datetime) or as_utc(next_at) <= now
