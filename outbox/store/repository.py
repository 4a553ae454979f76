"""Typed access to gateways, environments and outbox events over the store port.

A `UnitOfWork` binds the three repositories to one set of collections: inside
`Store.transaction` they share the transaction, outside it each call stands alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from outbox.domain.clock import as_utc
from outbox.domain.errors import NotFound, StaleWrite
from outbox.domain.event_documents import Read, Readings, name_of, read_all, read_event
from outbox.domain.events import OutboxEvent
from outbox.domain.model import Environment, EnvironmentState, Gateway, Phase, State, is_gateway_id
from outbox.store.port import ENVIRONMENTS, GATEWAYS, OUTBOX, Collections, Document, Store


def collections_of(source: Store | Collections) -> Collections:
    """A store's collections outside any transaction, or a transaction's as they are."""
    return source.unbound() if isinstance(source, Store) else source


class Gateways:
    def __init__(self, source: Store | Collections) -> None:
        self._gateways = collections_of(source).collection(GATEWAYS)

    def get(self, gateway_id: str) -> Gateway | None:
        document = self._gateways.find_one({"_id": gateway_id})
        return None if document is None else Gateway.from_document(document)

    def by_live_name(self, name: str) -> Gateway | None:
        document = self._gateways.find_one({"live_name": name})
        return None if document is None else Gateway.from_document(document)

    def by_live_host(self, host: str) -> Gateway | None:
        document = self._gateways.find_one({"live_host": host})
        return None if document is None else Gateway.from_document(document)

    def resolve(self, id_or_name: str) -> Gateway:
        """By id (`gw_…`), else by the name of a live gateway, else the latest with that name."""
        by_id = is_gateway_id(id_or_name)
        gateway = self.get(id_or_name) if by_id else None
        gateway = gateway or self.by_live_name(id_or_name)
        if gateway is None and not by_id:
            latest = self._gateways.find({"name": id_or_name}, sort=[("created_at", -1)], limit=1)
            gateway = Gateway.from_document(latest[0]) if latest else None
        if gateway is None:
            raise NotFound(f"no gateway {id_or_name!r}")
        return gateway

    def insert(self, gateway: Gateway) -> None:
        self._gateways.insert_one(gateway.to_document())

    def replace(
        self, gateway: Gateway, *, expected_version: int, expected_phase: Phase | None = None
    ) -> None:
        """Compare-and-set: write `gateway` only if the stored one is still at that version."""
        guard: dict[str, Any] = {"_id": gateway.id, "version": expected_version}
        if expected_phase is not None:
            guard["phase"] = str(expected_phase)
        if self._gateways.replace_one(guard, gateway.to_document()) == 0:
            raise StaleWrite(
                f"gateway {gateway.id} changed since version {expected_version} was read"
            )

    def list(
        self,
        *,
        state: State | None = None,
        phase: Phase | None = None,
        include_deleted: bool = True,
        limit: int = 0,
    ) -> list[Gateway]:
        query: dict[str, Any] = {}
        if state is not None:
            query["state"] = str(state)
        if phase is not None:
            query["phase"] = str(phase)
        elif not include_deleted:
            query["phase"] = {"$ne": str(Phase.DELETED)}
        documents = self._gateways.find(query, sort=[("created_at", 1)], limit=limit)
        return [Gateway.from_document(document) for document in documents]


class Environments:
    def __init__(self, source: Store | Collections) -> None:
        self._environments = collections_of(source).collection(ENVIRONMENTS)

    def of(self, gateway_id: str) -> list[Environment]:
        documents = self._environments.find({"gateway_id": gateway_id}, sort=[("name", 1)])
        return [Environment.model_validate(document) for document in documents]

    def sync(self, gateway_id: str, names: tuple[str, ...]) -> None:
        """Match the gateway's environments to `names`: new ones start Inactive."""
        existing = {environment.name for environment in self.of(gateway_id)}
        gone = sorted(existing - set(names))
        if gone:
            self._environments.delete_many({"gateway_id": gateway_id, "name": {"$in": gone}})
        self.add(gateway_id, tuple(name for name in names if name not in existing))

    def add(self, gateway_id: str, names: tuple[str, ...]) -> None:
        """New environments, Inactive (a gateway that has none yet needs no `sync`)."""
        if names:
            self._environments.insert_many(
                [
                    Environment(
                        id=Environment.key(gateway_id, name),
                        gateway_id=gateway_id,
                        name=name,
                        state=EnvironmentState.INACTIVE,
                    ).model_dump(by_alias=True, mode="python")
                    for name in names
                ]
            )

    def set_state(self, gateway_id: str, state: EnvironmentState) -> None:
        self._environments.update_many({"gateway_id": gateway_id}, {"$set": {"state": str(state)}})

    def remove(self, gateway_id: str) -> None:
        self._environments.delete_many({"gateway_id": gateway_id})


# An event waits for the relay until `published_at` is set; `parked` ones wait for an operator.
UNPUBLISHED: dict[str, Any] = {"published_at": None}
NOT_PARKED: dict[str, Any] = {"parked": {"$ne": True}}
PARKED: dict[str, Any] = {**UNPUBLISHED, "parked": True}
BY_COMMIT = [("occurred_at", 1)]


class Events:
    def __init__(self, source: Store | Collections) -> None:
        self._outbox = collections_of(source).collection(OUTBOX)

    def add(self, event: OutboxEvent) -> None:
        self._outbox.insert_one(event.to_document())

    def of(self, gateway_id: str) -> list[OutboxEvent]:
        """The gateway's retained events in version order; documents that are not events are
        left out (`history` shows them)."""
        return [read for read in self.history(gateway_id) if isinstance(read, OutboxEvent)]

    def history(self, gateway_id: str) -> list[Read]:
        """Every retained document of the gateway in version order, each an event or
        `Unreadable` (a document without a version comes first)."""
        documents = self._outbox.find({"aggregate_id": gateway_id}, sort=[("version", 1)])
        return [read_event(document) for document in documents]

    # -- waiting for the relay ------------------------------------------------------------------

    def unpublished(
        self,
        limit: int,
        *,
        leaving_out: Mapping[str, int] | None = None,
        partitions: Sequence[int | None] | None = None,
    ) -> Readings:
        """The oldest unpublished, unparked documents in commit order, leaving out each named
        gateway's versions from its barrier up; a barrier of 0 or 1 leaves out the gateway.
        With `partitions`, only documents of those (None: documents without a partition)."""
        query: dict[str, Any] = {} if partitions is None else {"partition": {"$in": partitions}}
        query.update({**UNPUBLISHED, **NOT_PARKED, **_leaving_out(leaving_out or {})})
        return read_all(self._outbox.find(query, sort=BY_COMMIT, limit=limit))

    def unpublished_among(self, keys: Sequence[Any]) -> Readings:
        """Those of the documents (by stored `_id`) still unpublished and unparked."""
        if not keys:
            return Readings([], [])
        query = {"_id": {"$in": list(keys)}, **UNPUBLISHED, **NOT_PARKED}
        return read_all(self._outbox.find(query))

    def unpublished_below(
        self, gateways: Sequence[str], version: int, *, excluding: Sequence[str] = ()
    ) -> list[Document]:
        """`_id`, gateway, version and `parked` of the unpublished documents (parked too) of
        these gateways below `version`, except the `excluding` ids."""
        query = {
            # published_at first: servers without a planner (nx-27017) pick the index by it;
            # then the cheap version bound before the long `$in` (mongomock tests in order).
            **UNPUBLISHED,
            "version": {"$lt": version},
            "aggregate_id": {"$in": list(gateways)},
            "_id": {"$nin": list(excluding)},
        }
        return self._outbox.find(query, projection={"aggregate_id": 1, "version": 1, "parked": 1})

    def backlog(self) -> int:
        """Unpublished documents that are not parked (a full count: call it sparingly)."""
        return self._outbox.count_documents({**UNPUBLISHED, **NOT_PARKED})

    def oldest_unpublished_at(self) -> datetime | None:
        """When the oldest unparked unpublished event occurred."""
        # A document without a date (not an event) would sort first and hide the oldest.
        query = {**UNPUBLISHED, **NOT_PARKED, "occurred_at": {"$ne": None}}
        found = self._outbox.find(query, sort=BY_COMMIT, limit=1)
        value = found[0].get("occurred_at") if found else None
        return as_utc(value) if isinstance(value, datetime) else None

    def waiting_behind(self, name: str, gateway: str | None, version: int | None) -> int:
        """Later unpublished events of the gateway of document `name` (by `_id` as text): all
        the others of the gateway when its version is unknown."""
        if gateway is None:
            return 0
        query: dict[str, Any] = {**UNPUBLISHED, "aggregate_id": gateway}
        if version is not None:
            return self._outbox.count_documents({**query, "version": {"$gt": version}})
        others = self._outbox.find(query, projection={"_id": 1})
        return sum(1 for other in others if name_of(other["_id"]) != name)

    def mark_published(self, ids: Sequence[str], *, at: datetime) -> int:
        if not ids:
            return 0
        # By id alone: the _id index finds them; an event marked twice (by a relay that lost
        # its lease) only gets a later timestamp.
        return self._outbox.update_many({"_id": {"$in": list(ids)}}, {"$set": {"published_at": at}})

    # -- what was published (seeding the stream's high-water marks) ----------------------------

    def highest_published(self) -> dict[str, int]:
        """Each gateway's highest published version among the retained events."""
        rows = self._outbox.find(
            {"published_at": {"$ne": None}}, projection={"aggregate_id": 1, "version": 1}
        )
        return highest_versions(rows)

    def highest_among(self, ids: Sequence[str]) -> dict[str, int]:
        """Each gateway's highest version among these events (published or not)."""
        found: list[Document] = []
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            found += self._outbox.find(
                {"_id": {"$in": chunk}}, projection={"aggregate_id": 1, "version": 1}
            )
        return highest_versions(found)

    # -- parked ---------------------------------------------------------------------------------

    def count_rejection(self, event_id: str, error: str) -> int | None:
        """One more rejection of an unpublished event; its attempts so far, or None if it was
        published meanwhile."""
        document = self._outbox.find_one_and_update(
            {"_id": event_id, **UNPUBLISHED},
            {"$inc": {"attempts": 1}, "$set": {"last_error": error}},
        )
        return None if document is None else int(document.get("attempts", 0))

    def park(self, key: Any, *, reason: str | None = None) -> bool:
        """Set an unpublished, unparked document aside (with its reason, if given); False if it
        was published or parked meanwhile."""
        fields: dict[str, Any] = {"parked": True}
        if reason is not None:
            fields["last_error"] = reason
        return bool(
            self._outbox.update_one({"_id": key, **UNPUBLISHED, **NOT_PARKED}, {"$set": fields})
        )

    def parked(self, *, limit: int = 0) -> list[Read]:
        """Parked documents in commit order, each an event or `Unreadable`."""
        return [read_event(document) for document in self.parked_documents(limit=limit)]

    def parked_documents(self, *, limit: int = 0) -> list[Document]:
        """Parked documents as stored, in commit order."""
        return self._outbox.find(PARKED, sort=BY_COMMIT, limit=limit)

    def parked_count(self) -> int:
        return self._outbox.count_documents(PARKED)

    def unpark(self, keys: Sequence[Any] | None = None) -> int:
        """Give parked documents (these, by stored `_id`, or all) a fresh set of attempts."""
        query: dict[str, Any] = dict(PARKED)
        if keys is not None:
            query["_id"] = {"$in": list(keys)}
        return self._outbox.update_many(query, {"$set": {"parked": False, "attempts": 0}})


def highest_versions(rows: Sequence[Document]) -> dict[str, int]:
    highest: dict[str, int] = {}
    for row in rows:
        gateway, version = row.get("aggregate_id"), row.get("version")
        if isinstance(gateway, str) and isinstance(version, int) and not isinstance(version, bool):
            highest[gateway] = max(version, highest.get(gateway, 0))
    return highest


def _leaving_out(blocked: Mapping[str, int]) -> dict[str, Any]:
    whole = sorted(gateway for gateway, barrier in blocked.items() if barrier <= 1)
    above = sorted((gateway, barrier) for gateway, barrier in blocked.items() if barrier > 1)
    query: dict[str, Any] = {}
    if whole:
        query["aggregate_id"] = {"$nin": whole}
    if above:
        query["$nor"] = [
            {"aggregate_id": gateway, "version": {"$gte": barrier}} for gateway, barrier in above
        ]
    return query


class UnitOfWork:
    """The repositories, bound to one set of collections (one transaction, or none: a store)."""

    def __init__(self, source: Store | Collections) -> None:
        collections = collections_of(source)
        self.gateways = Gateways(collections)
        self.environments = Environments(collections)
        self.events = Events(collections)
