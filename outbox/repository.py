"""Typed access to gateways, environments and outbox events over the store port.

A `UnitOfWork` binds the three repositories to one set of collections: inside
`Store.transaction` they share the transaction, outside it each call stands alone.
"""

from __future__ import annotations

from typing import Any

from outbox.errors import NotFound, StaleWrite
from outbox.event_documents import Read, read_event
from outbox.events import OutboxEvent
from outbox.model import Environment, EnvironmentState, Gateway, Phase, State, is_gateway_id
from outbox.store import ENVIRONMENTS, GATEWAYS, OUTBOX, Collections


class Gateways:
    def __init__(self, collections: Collections) -> None:
        self._gateways = collections.collection(GATEWAYS)

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
    def __init__(self, collections: Collections) -> None:
        self._environments = collections.collection(ENVIRONMENTS)

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


class Events:
    def __init__(self, collections: Collections) -> None:
        self._outbox = collections.collection(OUTBOX)

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


class UnitOfWork:
    """The repositories, bound to one set of collections (one transaction, or none)."""

    def __init__(self, collections: Collections) -> None:
        self.gateways = Gateways(collections)
        self.environments = Environments(collections)
        self.events = Events(collections)
