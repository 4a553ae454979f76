"""The store port's contract, run against every adapter: in-memory, nx-27017, a real replica set.

What the writer, the relay and the provisioner rely on: the Collection calls behave like pymongo's,
a compare-and-set that matches nothing aborts the whole unit of work, the unique live name and
host hold, a transaction is all or nothing (failures injected at our own port, and through the
writer), and dates come back as the same instant, to the millisecond, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from outbox.domain import transitions
from outbox.domain.errors import DuplicateEventVersions, EventVersionTaken, StaleWrite
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import (
    EnvironmentState,
    Gateway,
    GatewaySpec,
    LastError,
    Phase,
    Retry,
    State,
)
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import (
    ENVIRONMENTS,
    GATEWAYS,
    LEASES,
    OUTBOX,
    Collection,
    Collections,
    DuplicateKey,
    Store,
    T,
)
from outbox.store.repository import UnitOfWork
from outbox.writer import Writer
from outbox_cli.exit_codes import exit_code  # the command line's mapping of the error
from tests.support.clock import FakeClock
from tests.support.indexes import as_before_unique_versions, indexes
from tests.support.stores import DelegatingStore

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
ALL = (GATEWAYS, ENVIRONMENTS, OUTBOX, LEASES)


@pytest.fixture
def nx_store(nx_store: MongoStore) -> MongoStore:
    """nx-27017 ignores the database name (every database shares its collections): start empty."""
    for name in ALL:
        nx_store.database[name].delete_many({})
    return nx_store


class InjectedFailure(Exception):
    """The fault a test plants in a unit of work."""


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, in a comparable order."""
    return {name: store.collection(name).find({}, sort=[("_id", 1)]) for name in ALL}


def nothing_stored(store: Store) -> bool:
    return all(store.collection(name).count_documents({}) == 0 for name in ALL)


def a_gateway(name: str = "edge", *, host: str | None = "edge.example.com") -> transitions.Change:
    spec = GatewaySpec(image="nginx:1.27", host=host, environments=("dev", "prod"))
    return transitions.create(f"gw_{name}", name, spec, stopped=False, now=NOW)


def event_of(change: transitions.Change) -> OutboxEvent:
    return OutboxEvent.for_gateway(
        change.gateway.id,
        change.event_type,
        version=change.gateway.version,
        at=change.gateway.updated_at,
        payload=change.payload,
    )


def stored(store: Store, change: transitions.Change) -> Gateway:
    """Given: the gateway of `change` committed with its environments and its event."""

    def work(collections: Collections) -> Gateway:
        uow = UnitOfWork(collections)
        uow.gateways.insert(change.gateway)
        uow.environments.sync(change.gateway.id, change.gateway.spec.environments)
        uow.events.add(event_of(change))
        return change.gateway

    return store.transaction(work)


# -- fault injection at our own port --------------------------------------------------------------


class FaultyOutbox:
    """The outbox collection, failing just before or just after the event insert."""

    def __init__(self, inner: Collection, *, when: str) -> None:
        self._inner = inner
        self._when = when

    def insert_one(self, document: dict[str, Any]) -> None:
        if self._when == "before the outbox insert":
            raise InjectedFailure(self._when)
        self._inner.insert_one(document)
        raise InjectedFailure(self._when)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FaultyCollections:
    def __init__(self, inner: Collections, *, when: str) -> None:
        self._inner = inner
        self._when = when

    def collection(self, name: str) -> Collection:
        inner = self._inner.collection(name)
        return FaultyOutbox(inner, when=self._when) if name == OUTBOX else inner


class FaultyStore(DelegatingStore):
    """A store whose transactions hand out a failing outbox collection; all else delegates."""

    def __init__(self, inner: Store, *, when: str) -> None:
        super().__init__(inner)
        self._when = when

    def transaction(self, work: Callable[[Collections], T]) -> T:
        return self.inner.transaction(
            lambda collections: work(FaultyCollections(collections, when=self._when))
        )

    @property
    def description(self) -> str:
        return "faulty " + self.inner.description


FAILURE_POINTS = ["before the outbox insert", "after the outbox insert"]


# -- CRUD through the Collection port ----------------------------------------------------------


def test_an_inserted_document_reads_back_as_written(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_one({"_id": "relay", "owner": "a", "token": 3, "tags": ["x", "y"]})

    assert leases.find_one({"_id": "relay"}) == {
        "_id": "relay",
        "owner": "a",
        "token": 3,
        "tags": ["x", "y"],
    }
    assert leases.find_one({"_id": "nobody"}) is None


def test_find_filters_sorts_limits_and_projects(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_many([{"_id": f"e{n}", "n": n, "odd": n % 2 == 1} for n in range(6)])

    assert [d["_id"] for d in leases.find({"odd": True}, sort=[("n", -1)])] == ["e5", "e3", "e1"]
    assert [d["n"] for d in leases.find({}, sort=[("n", 1)], limit=2)] == [0, 1]
    projected = leases.find({"_id": "e4"}, projection={"n": 1})
    assert projected == [{"_id": "e4", "n": 4}]
    assert leases.find_one({"n": {"$gte": 1}}, sort=[("n", -1)]) == {
        "_id": "e5",
        "n": 5,
        "odd": True,
    }
    assert leases.count_documents({"n": {"$in": [1, 2, 9]}}) == 2


def test_aggregate_returns_a_list(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_many([{"_id": f"e{n}", "n": n} for n in range(4)])

    result = leases.aggregate(
        [{"$match": {"n": {"$gte": 1}}}, {"$group": {"_id": None, "t": {"$sum": "$n"}}}]
    )

    assert result == [{"_id": None, "t": 6}]


def test_replace_and_update_one_return_how_many_documents_matched(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_one({"_id": "relay", "token": 1})

    assert leases.replace_one({"_id": "relay", "token": 1}, {"_id": "relay", "token": 2}) == 1
    assert leases.replace_one({"_id": "relay", "token": 1}, {"_id": "relay", "token": 9}) == 0
    assert leases.update_one({"_id": "relay"}, {"$inc": {"token": 1}}) == 1
    assert leases.update_one({"_id": "other"}, {"$inc": {"token": 1}}) == 0
    assert leases.find_one({"_id": "relay"}) == {"_id": "relay", "token": 3}
    assert leases.find_one({"_id": "other"}) is None


def test_upserts_create_the_missing_document(any_store: Store) -> None:
    leases = any_store.collection(LEASES)

    assert leases.update_one({"_id": "a"}, {"$set": {"owner": "x"}}, upsert=True) == 0
    assert leases.replace_one({"_id": "b"}, {"_id": "b", "owner": "y"}, upsert=True) == 0

    assert leases.find({}, sort=[("_id", 1)]) == [
        {"_id": "a", "owner": "x"},
        {"_id": "b", "owner": "y"},
    ]


def test_update_many_and_delete_many_return_their_counts(any_store: Store) -> None:
    environments = any_store.collection(ENVIRONMENTS)
    environments.insert_many(
        [
            {"_id": f"g{g}:{e}", "gateway_id": f"g{g}", "state": "Inactive"}
            for g in (1, 2)
            for e in "ab"
        ]
    )

    assert environments.update_many({"gateway_id": "g1"}, {"$set": {"state": "Active"}}) == 2
    assert environments.count_documents({"state": "Active"}) == 2
    assert environments.delete_many({"gateway_id": "g2"}) == 2
    assert environments.delete_many({"gateway_id": "g2"}) == 0
    assert environments.count_documents({}) == 2


def test_find_one_and_update_returns_the_document_after_the_update(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_one({"_id": "relay", "token": 1})

    assert leases.find_one_and_update({"_id": "relay"}, {"$inc": {"token": 1}}) == {
        "_id": "relay",
        "token": 2,
    }
    assert leases.find_one_and_update({"_id": "nobody"}, {"$inc": {"token": 1}}) is None
    assert leases.find_one_and_update({"_id": "new"}, {"$set": {"token": 7}}, upsert=True) == {
        "_id": "new",
        "token": 7,
    }


# -- compare-and-set -----------------------------------------------------------------------------


def test_a_compare_and_set_on_the_current_version_replaces_the_gateway(any_store: Store) -> None:
    gateway = stored(any_store, a_gateway())
    stopped = gateway.evolve(state=State.STOPPED, version=2)

    any_store.transaction(lambda c: UnitOfWork(c).gateways.replace(stopped, expected_version=1))

    assert UnitOfWork(any_store).gateways.get(gateway.id) == stopped


@pytest.mark.parametrize(
    ("expected_version", "expected_phase"),
    [(7, None), (1, Phase.STARTED)],
    ids=["stale version", "other phase"],
)
def test_a_compare_and_set_that_matches_nothing_aborts_the_whole_transaction(
    any_store: Store, expected_version: int, expected_phase: Phase | None
) -> None:
    gateway = stored(any_store, a_gateway())
    other = stored(any_store, a_gateway("other", host=None))
    before = snapshot(any_store)

    def work(collections: Collections) -> None:
        uow = UnitOfWork(collections)
        uow.environments.sync(gateway.id, ("canary",))
        uow.events.add(event_of(transitions.stop(gateway, now=NOW)))
        collections.collection(GATEWAYS).update_one({"_id": other.id}, {"$set": {"version": 5}})
        uow.gateways.replace(
            gateway.evolve(phase=Phase.STARTING, version=2),
            expected_version=expected_version,
            expected_phase=expected_phase,
        )

    with pytest.raises(StaleWrite, match=f"since version {expected_version}"):
        any_store.transaction(work)

    assert snapshot(any_store) == before


# -- unique live name and live host --------------------------------------------------------------


@pytest.mark.parametrize("field", ["live_name", "live_host"])
def test_two_documents_cannot_hold_the_same_live_value(any_store: Store, field: str) -> None:
    gateways = any_store.collection(GATEWAYS)
    gateways.insert_one({"_id": "gw_1", field: "edge"})

    with pytest.raises(DuplicateKey) as refused:
        gateways.insert_one({"_id": "gw_2", field: "edge"})

    assert refused.value.key == field
    assert gateways.find({}) == [{"_id": "gw_1", field: "edge"}]


def test_documents_without_a_live_name_or_host_do_not_conflict(any_store: Store) -> None:
    gateways = any_store.collection(GATEWAYS)
    gateways.insert_one({"_id": "gw_1", "live_name": "edge", "live_host": "edge.example.com"})

    for n in range(2, 5):
        gateways.insert_one({"_id": f"gw_{n}", "name": "edge", "host": "edge.example.com"})

    assert gateways.count_documents({}) == 4


def test_a_replace_that_takes_a_held_host_is_refused_and_changes_nothing(any_store: Store) -> None:
    gateways = any_store.collection(GATEWAYS)
    gateways.insert_one({"_id": "gw_1", "live_name": "one", "live_host": "a.example.com"})
    gateways.insert_one({"_id": "gw_2", "live_name": "two", "live_host": "b.example.com"})

    with pytest.raises(DuplicateKey) as refused:
        gateways.replace_one(
            {"_id": "gw_2"}, {"_id": "gw_2", "live_name": "two", "live_host": "a.example.com"}
        )

    assert refused.value.key == "live_host"
    assert gateways.find_one({"_id": "gw_2"}) == {
        "_id": "gw_2",
        "live_name": "two",
        "live_host": "b.example.com",
    }


def test_an_unset_live_name_frees_the_name(any_store: Store) -> None:
    gateways = any_store.collection(GATEWAYS)
    gateways.insert_one({"_id": "gw_1", "name": "edge", "live_name": "edge"})

    gateways.update_one({"_id": "gw_1"}, {"$unset": {"live_name": ""}})
    gateways.insert_one({"_id": "gw_2", "name": "edge", "live_name": "edge"})

    assert [d["_id"] for d in gateways.find({"live_name": "edge"})] == ["gw_2"]


@pytest.mark.parametrize(
    ("field", "document"),
    [
        ("_id", {"_id": "gw_1"}),
        ("live_name", {"_id": "gw_2", "live_name": "edge"}),
        ("live_host", {"_id": "gw_2", "live_host": "edge.example.com"}),
    ],
)
def test_a_duplicate_inside_a_transaction_aborts_it_and_leaves_the_holder_intact(
    any_store: Store, field: str, document: dict[str, Any]
) -> None:
    any_store.collection(GATEWAYS).insert_one(
        {"_id": "gw_1", "live_name": "edge", "live_host": "edge.example.com"}
    )
    before = snapshot(any_store)

    def work(collections: Collections) -> None:
        collections.collection(OUTBOX).insert_one({"_id": "ev_1"})
        collections.collection(GATEWAYS).insert_one(document)

    with pytest.raises(DuplicateKey) as refused:
        any_store.transaction(work)

    assert refused.value.key == field
    assert snapshot(any_store) == before


# -- transactions: all or nothing ----------------------------------------------------------------


def test_a_transaction_commits_every_write_and_returns_the_work_result(any_store: Store) -> None:
    change = a_gateway()

    def work(collections: Collections) -> str:
        uow = UnitOfWork(collections)
        uow.gateways.insert(change.gateway)
        uow.environments.sync(change.gateway.id, change.gateway.spec.environments)
        uow.events.add(event_of(change))
        # Reads inside the transaction see its own writes.
        assert uow.gateways.by_live_name("edge") == change.gateway
        return "done"

    assert any_store.transaction(work) == "done"

    uow = UnitOfWork(any_store)
    assert uow.gateways.get(change.gateway.id) == change.gateway
    assert [e.name for e in uow.environments.of(change.gateway.id)] == ["dev", "prod"]
    assert [e.type for e in uow.events.of(change.gateway.id)] == [EventType.CREATED]


def test_a_transaction_that_starts_with_an_insert_stores_only_what_it_inserted(
    any_store: Store, request: pytest.FixtureRequest
) -> None:
    if "nx-27017" in request.node.callspec.id:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="nx-27017 also stores the transaction's readConcern as a document "
                "when the first command of a transaction is an insert",
            )
        )

    any_store.transaction(lambda c: c.collection(LEASES).insert_one({"_id": "relay"}))

    assert any_store.collection(LEASES).find({}) == [{"_id": "relay"}]


@pytest.mark.parametrize("when", FAILURE_POINTS)
def test_a_failure_around_the_outbox_insert_leaves_no_gateway_environment_or_event(
    any_store: Store, when: str
) -> None:
    change = a_gateway()

    def work(collections: Collections) -> None:
        uow = UnitOfWork(FaultyCollections(collections, when=when))
        uow.gateways.insert(change.gateway)
        uow.environments.sync(change.gateway.id, change.gateway.spec.environments)
        uow.events.add(event_of(change))

    with pytest.raises(InjectedFailure, match=when):
        any_store.transaction(work)

    assert nothing_stored(any_store)


def test_a_failed_transaction_restores_every_document_it_changed_or_deleted(
    any_store: Store,
) -> None:
    gateway = stored(any_store, a_gateway())
    any_store.collection(LEASES).insert_one({"_id": "relay", "token": 1})
    before = snapshot(any_store)

    def work(collections: Collections) -> None:
        uow = UnitOfWork(collections)
        uow.gateways.replace(gateway.evolve(state=State.STOPPED, version=2), expected_version=1)
        uow.environments.set_state(gateway.id, EnvironmentState.ACTIVE)
        uow.environments.remove(gateway.id)
        leases = collections.collection(LEASES)
        leases.find_one_and_update({"_id": "relay"}, {"$inc": {"token": 1}})
        leases.update_one({"_id": "relay"}, {"$set": {"owner": "b"}})
        leases.update_one({"_id": "new"}, {"$set": {"owner": "c"}}, upsert=True)
        leases.replace_one({"_id": "newer"}, {"_id": "newer"}, upsert=True)
        collections.collection(OUTBOX).update_many({}, {"$set": {"published_at": NOW}})
        collections.collection(OUTBOX).delete_many({})
        raise InjectedFailure("at the very end")

    with pytest.raises(InjectedFailure):
        any_store.transaction(work)

    assert snapshot(any_store) == before


# -- the writer's own transaction ---------------------------------------------------------------


@pytest.mark.parametrize("when", FAILURE_POINTS)
def test_a_writer_create_that_fails_around_the_outbox_insert_writes_nothing(
    any_store: Store, clock: FakeClock, when: str
) -> None:
    writer = Writer(FaultyStore(any_store, when=when), clock=clock)

    with pytest.raises(InjectedFailure):
        writer.create(
            "edge", {"image": "nginx:1.27", "host": "edge.example.com", "environments": ["dev"]}
        )

    assert nothing_stored(any_store)


@pytest.mark.parametrize("when", FAILURE_POINTS)
def test_a_writer_update_that_fails_around_the_outbox_insert_changes_nothing(
    any_store: Store, clock: FakeClock, when: str
) -> None:
    Writer(any_store, clock=clock).create("edge", {"image": "nginx:1.27", "environments": ["dev"]})
    before = snapshot(any_store)
    writer = Writer(FaultyStore(any_store, when=when), clock=clock)

    with pytest.raises(InjectedFailure):
        writer.update("edge", host="edge.example.com", environments=["prod"], replicas=3)

    assert snapshot(any_store) == before


# -- dates ---------------------------------------------------------------------------------------


def test_a_gateway_document_round_trips_unchanged(any_store: Store) -> None:
    gateway = a_gateway().gateway.evolve(
        phase_changed_at=NOW + timedelta(seconds=1),
        last_error=LastError(reason="StartTimeout", message="slow", at=NOW),
        retry=Retry(attempts=2, next_at=NOW + timedelta(milliseconds=1)),
        live_host=None,
    )
    gateways = UnitOfWork(any_store).gateways

    gateways.insert(gateway)

    assert gateways.get(gateway.id) == gateway
    assert "live_host" not in any_store.collection(GATEWAYS).find_one({"_id": gateway.id})  # type: ignore[operator]


@pytest.mark.parametrize(
    "written",
    [NOW, NOW.astimezone(timezone(timedelta(hours=2))), NOW.replace(microsecond=999000)],
    ids=["utc", "utc+2", "last millisecond"],
)
def test_a_datetime_comes_back_as_the_same_utc_instant_to_the_millisecond(
    any_store: Store, written: datetime
) -> None:
    outbox = any_store.collection(OUTBOX)
    outbox.insert_one({"_id": "e", "occurred_at": written})

    read = outbox.find_one({"_id": "e"})["occurred_at"]  # type: ignore[index]

    # Stores hand back naive UTC (tz_aware=False); the models make it aware.
    assert read.replace(tzinfo=UTC) == written
    assert (
        OutboxEvent.model_validate(
            {"type": "GatewayCreated", "aggregate_id": "g", "version": 1, "occurred_at": read}
        ).occurred_at
        == written
    )


def test_a_range_query_on_dates_selects_and_orders_by_instant(any_store: Store) -> None:
    outbox = any_store.collection(OUTBOX)
    # Inserted out of order, so the sort has to work for the result to come out right.
    for n in (3, 0, 4, 1, 2):
        outbox.insert_one(
            {
                "_id": f"e{n}",
                "aggregate_id": "g",
                "version": n,
                "occurred_at": NOW + timedelta(seconds=n),
            }
        )

    window = {"$gte": NOW + timedelta(seconds=1), "$lt": NOW + timedelta(seconds=4)}
    found = outbox.find({"occurred_at": window}, sort=[("occurred_at", -1)])

    assert [d["_id"] for d in found] == ["e3", "e2", "e1"]


def test_a_datetime_set_by_an_update_stays_a_date(any_store: Store) -> None:
    outbox = any_store.collection(OUTBOX)
    outbox.insert_one({"_id": "e", "published_at": None})

    outbox.update_one({"_id": "e"}, {"$set": {"published_at": NOW}})

    assert outbox.find_one({"_id": "e"}) == {"_id": "e", "published_at": NOW.replace(tzinfo=None)}


def test_every_update_operator_and_read_gives_back_dates_as_dates(any_store: Store) -> None:
    # nx-27017 stores a date set by an update operator as text; the adapter reads it back.
    leases = any_store.collection(LEASES)
    leases.insert_one({"_id": "a", "token": 1})
    later = NOW + timedelta(seconds=1)

    leases.update_many({"token": 1}, {"$set": {"expires_at": NOW}, "$max": {"beat": later}})
    after = leases.find_one_and_update({"_id": "a"}, {"$set": {"renewed_at": later}})
    leases.update_one({"_id": "a"}, {"$setOnInsert": {"joined_at": NOW}}, upsert=True)
    leases.update_one({"_id": "a"}, {"$set": {"retry": {"next_at": later}}})

    naive, naive_later = NOW.replace(tzinfo=None), later.replace(tzinfo=None)
    assert after is not None and after["renewed_at"] == naive_later
    assert leases.find_one({"_id": "a"}) == {
        "_id": "a",
        "token": 1,
        "expires_at": naive,
        "beat": naive_later,
        "renewed_at": naive_later,
        "retry": {"next_at": naive_later},
    }
    assert leases.find({"_id": "a"}, projection={"expires_at": 1}) == [
        {"_id": "a", "expires_at": naive}
    ]
    assert [d["_id"] for d in leases.find({"expires_at": {"$lt": later}})] == ["a"]


def test_text_that_is_no_date_stays_text(any_store: Store) -> None:
    leases = any_store.collection(LEASES)
    leases.insert_one({"_id": "a"})
    texts = {"owner": "relay 2026-01-01 12:00:00", "day": "2026-01-01", "iso": "2026-01-01T12:00"}

    leases.update_one({"_id": "a"}, {"$set": texts})

    assert leases.find_one({"_id": "a"}) == {"_id": "a", **texts}


# -- null means missing or null -------------------------------------------------------------------


def outbox_with_nulls(store: Store) -> Collection:
    """Given: unpublished events without `published_at` and with it null, and a published one."""
    outbox = store.collection(OUTBOX)
    outbox.insert_many(
        [
            {"_id": "missing", "aggregate_id": "a", "version": 1},
            {"_id": "null", "aggregate_id": "a", "version": 2, "published_at": None},
            {
                "_id": "parked",
                "aggregate_id": "b",
                "version": 1,
                "published_at": None,
                "parked": True,
            },
            {"_id": "published", "aggregate_id": "a", "version": 3, "published_at": NOW},
        ]
    )
    return outbox


def test_a_count_of_null_matches_documents_without_the_field_or_with_null(
    any_store: Store,
) -> None:
    outbox = outbox_with_nulls(any_store)

    assert outbox.count_documents({"published_at": None}) == 3
    assert outbox.count_documents({"published_at": None, "parked": {"$ne": True}}) == 2
    assert outbox.count_documents({"published_at": None, "parked": True}) == 1
    assert outbox.count_documents({"_id": "null", "published_at": None}) == 1
    assert outbox.count_documents({"published_at": None, "version": {"$gt": 1}}) == 1
    assert outbox.count_documents({"published_at": None, "$nor": [{"aggregate_id": "b"}]}) == 2
    assert outbox.count_documents({"published_at": None, "aggregate_id": "c"}) == 0


def test_a_find_of_null_next_to_nor_matches_documents_without_the_field_or_with_null(
    any_store: Store,
) -> None:
    outbox = outbox_with_nulls(any_store)

    found = outbox.find({"published_at": None, "$nor": [{"aggregate_id": "a", "version": 2}]})

    assert sorted(d["_id"] for d in found) == ["missing", "parked"]


def test_updates_and_deletes_of_null_next_to_ne_match_documents_without_the_field_or_with_null(
    any_store: Store,
) -> None:
    outbox = outbox_with_nulls(any_store)
    unparked_null = {"published_at": None, "parked": {"$ne": True}}

    assert outbox.update_one({"_id": "null", **unparked_null}, {"$set": {"seen": 1}}) == 1
    assert outbox.update_many(unparked_null, {"$set": {"seen": 2}}) == 2
    assert outbox.find_one_and_update({"_id": "missing", **unparked_null}, {"$inc": {"n": 1}})
    assert outbox.delete_many(unparked_null) == 2
    assert sorted(d["_id"] for d in outbox.find({})) == ["parked", "published"]


# -- indexes: `outbox init` ----------------------------------------------------------------------


def test_a_version_freed_by_a_deleted_or_rolled_back_event_can_be_taken_again(
    any_store: Store,
) -> None:
    outbox = any_store.collection(OUTBOX)
    outbox.insert_one({"_id": "ev_1", "aggregate_id": "gw_1", "version": 1})
    outbox.delete_many({"_id": "ev_1"})

    def insert_then_fail(collections: Collections) -> None:
        collections.collection(OUTBOX).insert_one(
            {"_id": "ev_2", "aggregate_id": "gw_1", "version": 2}
        )
        raise InjectedFailure

    with pytest.raises(InjectedFailure):
        any_store.transaction(insert_then_fail)

    outbox.insert_one({"_id": "ev_3", "aggregate_id": "gw_1", "version": 1})
    outbox.insert_one({"_id": "ev_4", "aggregate_id": "gw_1", "version": 2})
    assert [d["_id"] for d in outbox.find({}, sort=[("_id", 1)])] == ["ev_3", "ev_4"]
    with pytest.raises(DuplicateKey):
        outbox.insert_one({"_id": "ev_5", "aggregate_id": "gw_1", "version": 2})


@pytest.fixture(params=["nx-27017", "replica-set"])
def upgraded_store(request: pytest.FixtureRequest) -> MongoStore:
    """A database that outlives versions of the product (the in-memory store starts anew)."""
    name = {"nx-27017": "nx_store", "replica-set": "replica_set_store"}[request.param]
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_two_events_of_one_gateway_never_share_a_version(any_store: Store) -> None:
    outbox = any_store.collection(OUTBOX)
    outbox.insert_one({"_id": "ev_1", "aggregate_id": "gw_1", "version": 1})
    outbox.insert_one({"_id": "ev_2", "aggregate_id": "gw_2", "version": 1})

    with pytest.raises(DuplicateKey) as refused:
        outbox.insert_one({"_id": "ev_3", "aggregate_id": "gw_1", "version": 1})

    assert refused.value.key == "aggregate_id"
    assert outbox.count_documents({}) == 2


def test_init_lists_shared_versions_and_changes_nothing(
    upgraded_store: MongoStore,
) -> None:
    # Two events without a version share one too (null): MongoDB's unique index refuses them,
    # so the product must find them before building it, whatever this store would accept.
    as_before_unique_versions(upgraded_store)
    upgraded_store.collection(OUTBOX).insert_many(
        [
            {"_id": "ev_1", "aggregate_id": "gw_1", "version": 1},
            {"_id": "ev_2", "aggregate_id": "gw_1", "version": 1},
            {"_id": "ev_3", "aggregate_id": "gw_1", "version": 2},
            {"_id": "ev_4", "aggregate_id": "gw_2"},
            {"_id": "ev_5", "aggregate_id": "gw_2"},
        ]
    )
    before = {name: indexes(upgraded_store, name) for name in ALL}

    with pytest.raises(DuplicateEventVersions) as refused:
        upgraded_store.ensure_indexes(retention_seconds=3600)

    assert refused.value.duplicates == [
        ("gw_1", 1, ["ev_1", "ev_2"]),
        ("gw_2", None, ["ev_4", "ev_5"]),
    ]
    assert exit_code(refused.value) == 3
    assert {name: indexes(upgraded_store, name) for name in ALL} == before


def test_init_makes_the_old_version_index_unique_once_the_duplicates_are_gone(
    upgraded_store: MongoStore,
) -> None:
    as_before_unique_versions(upgraded_store)
    outbox = upgraded_store.collection(OUTBOX)
    outbox.insert_one({"_id": "ev_1", "aggregate_id": "gw_1", "version": 1})

    upgraded_store.ensure_indexes(retention_seconds=0)

    assert indexes(upgraded_store, OUTBOX)[("aggregate_id", "version")].get("unique") is True
    with pytest.raises(DuplicateKey):
        outbox.insert_one({"_id": "ev_2", "aggregate_id": "gw_1", "version": 1})


@pytest.mark.parametrize("retention", [[3600], [3600, 60], [3600, 0], [0, 600]], ids=str)
def test_the_retention_index_expires_published_events_after_the_retention(
    any_store: MongoStore | MemoryStore, retention: list[int]
) -> None:
    for seconds in retention:  # `outbox init` run again with a new OUTBOX_RETENTION
        any_store.ensure_indexes(retention_seconds=seconds)

    ttl = indexes(any_store, OUTBOX).get(("published_at",))
    if retention[-1] == 0:
        assert ttl is None
    else:
        assert ttl is not None and ttl["expireAfterSeconds"] == retention[-1]


def test_a_writer_that_meets_a_taken_event_version_never_says_name_taken(
    any_store: Store, clock: FakeClock
) -> None:
    writer = Writer(any_store, clock=clock, attempts=2)
    gateway = writer.create("edge", {"image": "nginx:1.27"})
    # A stray event already holds the version the next write would give its event.
    any_store.collection(OUTBOX).insert_one(
        {"_id": "ev_stray", "aggregate_id": gateway.id, "version": 2}
    )

    with pytest.raises(EventVersionTaken, match="already holds an event of gateway edge"):
        writer.stop("edge")

    assert writer.get("edge").version == 1
