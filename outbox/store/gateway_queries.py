"""The questions asked about many gateways at once: the sweep's, `outbox status`'s, the HTTP
API's pages and the shell's completions.

Each method says what it asks and takes plain values; the callers keep their policy (when a
retry is due, which phases have deadlines, how a cursor is encoded). `repository.Gateways`
reads and writes one gateway at a time.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from datetime import datetime
from typing import Any, NamedTuple

from outbox.domain.clock import as_utc
from outbox.domain.model import Gateway, Phase, State
from outbox.store.port import GATEWAYS, Collections, Document, Store
from outbox.store.repository import collections_of

# Creation time, then id: a total order, so a page boundary falls between two gateways.
BY_CREATION = [("created_at", 1), ("_id", 1)]
BY_PHASE_CHANGE = [("phase_changed_at", 1)]


class Unsettled(NamedTuple):
    """A gateway not at rest, and when its back-off ends (None: none that can be read)."""

    id: str
    retry_at: datetime | None


class Page(NamedTuple):
    gateways: list[Gateway]
    more: bool  # whether gateways come after the last of these


class GatewayQueries:
    def __init__(self, source: Store | Collections) -> None:
        self._gateways = collections_of(source).collection(GATEWAYS)

    # -- the sweep and the resync (in `partitions` only, when given) ----------------------------

    def unsettled(self, *, partitions: Set[int] | None = None) -> list[Unsettled]:
        """Every gateway not at rest, with the end of its back-off if it waits one out."""
        documents = self._gateways.find(
            _in(partitions, {"at_rest": False}), projection={"_id": 1, "retry": 1}
        )
        return [Unsettled(document["_id"], _retry_at(document)) for document in documents]

    def retries_due(self, now: datetime, *, partitions: Set[int] | None = None) -> list[str]:
        """Gateways whose back-off ended by `now`."""
        query = _in(partitions, {"retry.next_at": {"$lte": now}})
        return [document["_id"] for document in self._gateways.find(query, projection={"_id": 1})]

    def started_at_rest(self, *, partitions: Set[int] | None = None) -> list[str]:
        """Started gateways at rest (the ones a resync checks for drift)."""
        query = _in(partitions, {"at_rest": True, "phase": str(Phase.STARTED)})
        return [document["_id"] for document in self._gateways.find(query, projection={"_id": 1})]

    def retries_waiting(self, now: datetime) -> int:
        """How many gateways wait out a back-off that ends after `now`."""
        return self._gateways.count_documents({"retry.next_at": {"$gt": now}})

    # -- counts and lists of `outbox status` -----------------------------------------------------

    def count_per_phase(self) -> dict[str, int]:
        """How many gateways are in each phase, counted by the database (0 for an empty one)."""
        groups = self._gateways.aggregate([{"$group": {"_id": "$phase", "count": {"$sum": 1}}}])
        counted = {str(group["_id"]): int(group["count"]) for group in groups}
        return {str(phase): counted.get(str(phase), 0) for phase in Phase}

    def in_phases_or_retrying_or_failed(self, phases: Sequence[Phase]) -> list[Gateway]:
        """Gateways in any of `phases`, those retrying and those with an error, each once:
        those in `phases` first, then the retrying, then the failed, each by phase change."""
        # Three small indexed reads rather than one $or: each of the three sets is small.
        found: dict[str, Gateway] = {}
        for query in (
            {"phase": {"$in": [str(phase) for phase in phases]}},
            {"retry": {"$ne": None}},
            {"last_error": {"$ne": None}},
        ):
            for document in self._gateways.find(query, sort=BY_PHASE_CHANGE):
                gateway = Gateway.from_document(document)
                found.setdefault(gateway.id, gateway)
        return list(found.values())

    # -- pages of the HTTP API -------------------------------------------------------------------

    def page(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        state: State | None = None,
        phase: Phase | None = None,
        include_deleted: bool = True,
    ) -> Page:
        """Up to `limit` gateways by creation time, then id, from just after the gateway keyed
        `after` (its created_at and id): no gateway repeats or is skipped across pages, even
        while others are created between them."""
        query = _page_query(state=state, phase=phase, include_deleted=include_deleted, after=after)
        # One more than asked: whether it comes back says if there is a next page.
        documents = self._gateways.find(query, sort=BY_CREATION, limit=limit + 1)
        gateways = [Gateway.from_document(document) for document in documents[:limit]]
        return Page(gateways, more=len(documents) > limit)

    # -- completions -----------------------------------------------------------------------------

    def live_names(self, *, limit: int) -> list[str]:
        """Up to `limit` names of live gateways, in no particular order."""
        documents = self._gateways.find(
            {"live_name": {"$exists": True}}, limit=limit, projection={"live_name": 1}
        )
        return [str(document.get("live_name", "")) for document in documents]


def _in(partitions: Set[int] | None, query: dict[str, Any]) -> dict[str, Any]:
    if partitions is None:
        return query
    # The partition first: the (partition, at_rest) and (partition, retry.next_at) indexes.
    return {"partition": {"$in": sorted(partitions)}, **query}


def _retry_at(document: Document) -> datetime | None:
    retry = document.get("retry")
    next_at = retry.get("next_at") if isinstance(retry, dict) else None
    return as_utc(next_at) if isinstance(next_at, datetime) else None


def _page_query(
    *,
    state: State | None,
    phase: Phase | None,
    include_deleted: bool,
    after: tuple[datetime, str] | None,
) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    if state is not None:
        conditions.append({"state": str(state)})
    if phase is not None:
        conditions.append({"phase": str(phase)})
    elif not include_deleted:
        conditions.append({"phase": {"$ne": str(Phase.DELETED)}})
    if after is not None:
        created_at, gateway_id = after
        later = {"created_at": {"$gt": created_at}}
        same_time_higher_id = {"created_at": created_at, "_id": {"$gt": gateway_id}}
        conditions.append({"$or": [later, same_time_higher_id]})
    return {"$and": conditions} if conditions else {}
