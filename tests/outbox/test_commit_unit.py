"""The one commit unit the writer and the reconciler share (`outbox.store.commit`), on every
store adapter: a change and its event commit together or not at all, under a compare-and-set on
the version and, when asked, the phase; the caller's extra work shares the transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outbox.domain import transitions
from outbox.domain.errors import StaleWrite
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import EnvironmentState, Gateway, GatewaySpec, Phase
from outbox.store.commit import Commit, EnvironmentsChange, Guard, NewEvent
from outbox.store.port import ENVIRONMENTS, GATEWAYS, IDEMPOTENCY_KEYS, OUTBOX, Collections, Store
from outbox.store.repository import UnitOfWork

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


class InjectedFailure(Exception):
    """The fault a test plants in a commit's extra work."""


def new_gateway(environments: tuple[str, ...] = ("dev", "prod")) -> Gateway:
    spec = GatewaySpec(image="nginx:1.27", environments=environments)
    created = transitions.create("gw_commitunit", "edge", spec, stopped=False, now=NOW)
    return created.gateway.evolve(partition=3)


def created(store: Store) -> Gateway:
    """Given: a new gateway committed by the unit, with its GatewayCreated event."""
    commit = Commit(None, new_gateway(), NewEvent(EventType.CREATED, actor="python:test"))

    def work(collections: Collections) -> Gateway:
        # A read first, as the writer does: nx-27017 stores the read concern of a transaction
        # that starts with an insert as a document, which would blur the snapshots.
        UnitOfWork(collections).gateways.by_live_name("edge")
        return commit.write(collections)

    return store.transaction(work)


def next_of(gateway: Gateway, **changes: object) -> Gateway:
    return gateway.evolve(version=gateway.version + 1, updated_at=LATER, **changes)


def event_types(store: Store, gateway: Gateway) -> list[EventType]:
    return [event.type for event in UnitOfWork(store).events.of(gateway.id)]


def environment_states(store: Store, gateway: Gateway) -> dict[str, EnvironmentState]:
    return {env.name: env.state for env in UnitOfWork(store).environments.of(gateway.id)}


def snapshot(store: Store) -> dict[str, list[dict[str, object]]]:
    names = (GATEWAYS, ENVIRONMENTS, OUTBOX, IDEMPOTENCY_KEYS)
    return {name: store.collection(name).find({}, sort=[("_id", 1)]) for name in names}


def test_a_new_gateway_commits_with_its_environments_and_its_event(any_store: Store) -> None:
    gateway = new_gateway()
    event = NewEvent(EventType.CREATED, {"name": "edge"}, actor="python:test", trace=TRACE)
    commit = Commit(None, gateway, event)

    assert commit.run(any_store) == gateway

    assert UnitOfWork(any_store).gateways.get(gateway.id) == gateway
    assert environment_states(any_store, gateway) == {
        "dev": EnvironmentState.INACTIVE,
        "prod": EnvironmentState.INACTIVE,
    }
    [stored] = UnitOfWork(any_store).events.of(gateway.id)
    assert commit.outbox_event is not None
    assert stored.id == commit.outbox_event.id
    assert (stored.type, stored.version, stored.partition) == (EventType.CREATED, 1, 3)
    assert (stored.payload, stored.actor, stored.traceparent) == (
        {"name": "edge"},
        "python:test",
        TRACE["traceparent"],
    )


def test_a_change_replaces_the_gateway_under_its_guard_with_its_event(any_store: Store) -> None:
    before = created(any_store)
    after = next_of(before, phase=Phase.STARTING)
    event = NewEvent(EventType.STARTING, {"phase": "Starting"}, actor="provisioner:test")

    Commit(before, after, event, guard=Guard(before.version, phase=before.phase)).run(any_store)

    assert UnitOfWork(any_store).gateways.get(before.id) == after
    assert event_types(any_store, before) == [EventType.CREATED, EventType.STARTING]
    assert UnitOfWork(any_store).events.of(before.id)[-1].version == after.version


def test_a_lost_compare_and_set_writes_neither_the_change_nor_its_event(any_store: Store) -> None:
    before = created(any_store)
    moved = next_of(before, phase=Phase.STARTING)
    Commit(before, moved, None, guard=Guard(before.version)).run(any_store)
    untouched = snapshot(any_store)
    extra_ran: list[Gateway] = []

    # Written from the version read before somebody else's commit: the guard matches nothing.
    stale = Commit(
        before,
        next_of(before, spec=new_gateway(("qa",)).spec),
        NewEvent(EventType.SPEC_UPDATED),
        guard=Guard(before.version),
        environments=EnvironmentsChange(EnvironmentState.ACTIVE),
        extra=lambda collections, gateway: extra_ran.append(gateway),
    )
    with pytest.raises(StaleWrite):
        stale.run(any_store)

    assert snapshot(any_store) == untouched
    assert extra_ran == []


def test_the_expected_phase_guards_the_commit_as_well_as_the_version(any_store: Store) -> None:
    before = created(any_store)  # phase Created
    untouched = snapshot(any_store)
    after = next_of(before, phase=Phase.STOPPED)
    event = NewEvent(EventType.STOPPED)

    with pytest.raises(StaleWrite):
        Commit(before, after, event, guard=Guard(before.version, Phase.STARTED)).run(any_store)
    assert snapshot(any_store) == untouched

    Commit(before, after, event, guard=Guard(before.version, Phase.CREATED)).run(any_store)
    assert UnitOfWork(any_store).gateways.get(before.id) == after
    assert event_types(any_store, before) == [EventType.CREATED, EventType.STOPPED]


def test_environments_follow_the_spec_then_take_the_state_asked(any_store: Store) -> None:
    before = created(any_store)
    after = next_of(before, spec=new_gateway(("prod", "qa")).spec)
    active = EnvironmentsChange(EnvironmentState.ACTIVE)

    Commit(before, after, None, guard=Guard(before.version), environments=active).run(any_store)

    assert environment_states(any_store, before) == {
        "prod": EnvironmentState.ACTIVE,
        "qa": EnvironmentState.ACTIVE,
    }
    gone = next_of(after)
    removal = EnvironmentsChange(remove=True)
    Commit(after, gone, None, guard=Guard(after.version), environments=removal).run(any_store)
    assert environment_states(any_store, before) == {}


def test_a_commit_without_an_event_writes_only_the_change(any_store: Store) -> None:
    before = created(any_store)
    after = next_of(before, phase=Phase.STARTING)

    commit = Commit(before, after, None, guard=Guard(before.version))
    commit.run(any_store)

    assert commit.outbox_event is None
    assert UnitOfWork(any_store).gateways.get(before.id) == after
    assert event_types(any_store, before) == [EventType.CREATED]


def test_extra_work_runs_in_the_same_transaction_with_the_gateway_as_written(
    any_store: Store,
) -> None:
    before = created(any_store)
    after = next_of(before, phase=Phase.STARTING)

    def remember(collections: Collections, gateway: Gateway) -> None:
        collections.collection(IDEMPOTENCY_KEYS).insert_one({"_id": "k1", "v": gateway.version})

    Commit(before, after, None, guard=Guard(before.version), extra=remember).run(any_store)
    assert any_store.collection(IDEMPOTENCY_KEYS).find({}) == [{"_id": "k1", "v": after.version}]

    untouched = snapshot(any_store)

    def fail(collections: Collections, gateway: Gateway) -> None:
        collections.collection(IDEMPOTENCY_KEYS).insert_one({"_id": "k2", "v": gateway.version})
        raise InjectedFailure

    failing = Commit(
        after, next_of(after), NewEvent(EventType.STARTED), guard=Guard(after.version), extra=fail
    )
    with pytest.raises(InjectedFailure):
        failing.run(any_store)
    assert snapshot(any_store) == untouched


def test_the_commit_runs_inside_a_transaction_the_caller_opened(any_store: Store) -> None:
    gateway = new_gateway()

    def work(collections: Collections) -> Gateway:
        assert UnitOfWork(collections).gateways.by_live_name("edge") is None  # the caller's read
        return Commit(None, gateway, NewEvent(EventType.CREATED)).write(collections)

    assert any_store.transaction(work) == gateway
    assert event_types(any_store, gateway) == [EventType.CREATED]


def test_the_event_is_made_once_and_speaks_of_the_gateway_as_written() -> None:
    gateway = new_gateway()
    commit = Commit(None, gateway, NewEvent(EventType.CREATED, trace=TRACE))

    event = commit.outbox_event
    assert isinstance(event, OutboxEvent) and event is commit.outbox_event
    assert (event.aggregate_id, event.version, event.occurred_at, event.partition) == (
        gateway.id,
        gateway.version,
        gateway.updated_at,
        gateway.partition,
    )


@pytest.mark.parametrize("guarded", [True, False])
def test_a_new_gateway_has_no_guard_and_a_stored_one_needs_one(guarded: bool) -> None:
    gateway = new_gateway()
    with pytest.raises(ValueError, match="guard"):
        if guarded:
            Commit(None, gateway, None, guard=Guard(1))
        else:
            Commit(gateway, next_of(gateway), None)
