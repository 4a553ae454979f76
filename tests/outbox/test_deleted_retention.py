"""Deleted gateways expire after OUTBOX_RETENTION, counted from their deletion, like published
events: a TTL index in MongoDB, the relay's purge in the in-memory store. 0 keeps them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outbox.domain.model import Phase, State
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS, Store
from outbox.store.repository import UnitOfWork
from tests.support.gateways import make_gateway

NOW = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def gateways_ttl(store: Store) -> dict[str, object] | None:
    database = store.database  # type: ignore[attr-defined]
    for info in database[GATEWAYS].index_information().values():
        if [field for field, _ in info["key"]] == ["phase_changed_at"]:
            return dict(info)
    return None


def test_the_memory_store_purges_gateways_deleted_before_the_retention() -> None:
    store = MemoryStore()
    gateways = UnitOfWork(store).gateways
    for name, phase, state, ago in [
        ("long-gone", Phase.DELETED, State.DELETED, WEEK + timedelta(seconds=1)),
        ("just-gone", Phase.DELETED, State.DELETED, WEEK - timedelta(seconds=1)),
        ("old-stopped", Phase.STOPPED, State.STOPPED, 4 * WEEK),
    ]:
        gateway = make_gateway(name, gateway_id=f"gw_{name}").evolve(
            phase=phase, state=state, phase_changed_at=NOW - ago
        )
        gateways.insert(gateway)

    store.purge_published(before=NOW - WEEK)

    remaining = sorted(g.name for g in gateways.list())
    assert remaining == ["just-gone", "old-stopped"]


@pytest.mark.parametrize("backend", ["memory", "nx"])
def test_init_makes_deleted_gateways_expire_and_retention_0_keeps_them(
    backend: str, request: pytest.FixtureRequest
) -> None:
    store: Store = MemoryStore() if backend == "memory" else request.getfixturevalue("nx_store")

    store.ensure_indexes(retention_seconds=3600)
    ttl = gateways_ttl(store)
    assert ttl is not None and ttl["expireAfterSeconds"] == 3600

    store.ensure_indexes(retention_seconds=0)
    assert gateways_ttl(store) is None
