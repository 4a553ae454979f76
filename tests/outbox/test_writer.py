"""The writer API against the in-memory store and over the wire on nx-27017.

Every row of DESIGN.md's writer table, allowed and refused; names and hosts that are taken and
freed again; spec updates with the environments following; reads; strict optimistic locking.
A refusal always raises a typed error and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from outbox.domain.errors import (
    InvalidInput,
    NameTaken,
    NotFound,
    TransitionRefused,
    VersionConflict,
)
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import EnvironmentState, Gateway, GatewaySpec, Phase, State
from outbox.store.mongo.store import MongoStore
from outbox.store.port import ENVIRONMENTS, GATEWAYS, OUTBOX, Collections, Store
from outbox.store.repository import UnitOfWork
from outbox.writer import Writer
from tests.support.clock import FakeClock

SPEC = {"image": "nginx:1.27", "host": "edge.example.com", "environments": ["dev", "prod"]}


@pytest.fixture
def nx_store(nx_store: MongoStore) -> MongoStore:
    """nx-27017 ignores the database name (every database shares its collections): start empty."""
    for name in (GATEWAYS, ENVIRONMENTS, OUTBOX):
        nx_store.database[name].delete_many({})
    return nx_store


@pytest.fixture(params=["memory", "nx-27017"])
def store(request: pytest.FixtureRequest) -> Store:
    fixture = {"memory": "memory_store", "nx-27017": "nx_store"}[request.param]
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def writer(store: Store, clock: FakeClock) -> Writer:
    return Writer(store, clock=clock)


def snapshot(store: Store) -> dict[str, list[dict[str, Any]]]:
    names = (GATEWAYS, ENVIRONMENTS, OUTBOX)
    return {name: store.collection(name).find({}, sort=[("_id", 1)]) for name in names}


def provisioner_sets(store: Store, gateway_id: str, clock: FakeClock, **changes: Any) -> Gateway:
    """A provisioner-like step: a compare-and-set on version with its own event, one transaction."""

    def work(collections: Collections) -> Gateway:
        uow = UnitOfWork(collections)
        current = uow.gateways.get(gateway_id)
        assert current is not None
        changed = current.evolve(
            version=current.version + 1, updated_at=clock(), phase_changed_at=clock(), **changes
        )
        uow.gateways.replace(changed, expected_version=current.version)
        uow.events.add(
            # Any provisioner event will do: the writer ignores them.
            OutboxEvent.for_gateway(
                gateway_id, EventType.FAILED, version=changed.version, at=clock()
            )
        )
        return changed

    return store.transaction(work)


def provisioner_finishes_delete(store: Store, gateway_id: str, clock: FakeClock) -> Gateway:
    return provisioner_sets(
        store, gateway_id, clock, phase=Phase.DELETED, live_name=None, live_host=None
    )


def given(writer: Writer, store: Store, clock: FakeClock, state: State, phase: Phase) -> Gateway:
    """A gateway in that state and phase, as a user and the provisioner would have left it."""
    gateway = writer.create("edge", SPEC, stopped=state == State.STOPPED)
    live = {} if phase != Phase.DELETED else {"live_name": None, "live_host": None}
    return provisioner_sets(store, gateway.id, clock, state=state, phase=phase, **live)


# -- the writer table ----------------------------------------------------------------------------

R, S, X, D = State.RUNNING, State.STOPPED, State.RESTARTING, State.DELETED
# The (state, phase) pairs the product can reach, and a few it should refuse to act on anyway.
SITUATIONS = [
    (R, Phase.CREATED),
    (R, Phase.STARTING),
    (R, Phase.STARTED),
    (R, Phase.STOPPING),
    (R, Phase.STOPPED),
    (X, Phase.STARTED),
    (X, Phase.STARTING),
    (S, Phase.CREATED),
    (S, Phase.STARTING),
    (S, Phase.STARTED),
    (S, Phase.STOPPING),
    (S, Phase.STOPPED),
    (D, Phase.STARTED),
    (D, Phase.DELETING),
    (D, Phase.DELETED),
]


def allowed(action: str, state: State, phase: Phase) -> bool:
    """DESIGN.md's "allowed when" column, written out independently of outbox.domain.transitions."""
    return {
        "start": state == S and phase in (Phase.STOPPED, Phase.CREATED),
        "stop": state in (R, X) and phase not in (Phase.DELETING, Phase.DELETED),
        "restart": state == R and phase == Phase.STARTED,
        "update": state != D,
        "delete": state != D,
    }[action]


ACTIONS = ["start", "stop", "restart", "update", "delete"]
ALLOWED = [(a, s, p) for a in ACTIONS for s, p in SITUATIONS if allowed(a, s, p)]
REFUSED = [(a, s, p) for a in ACTIONS for s, p in SITUATIONS if not allowed(a, s, p)]
EFFECT: dict[str, tuple[EventType, Callable[[State], State]]] = {
    "start": (EventType.START_REQUESTED, lambda state: R),
    "stop": (EventType.STOP_REQUESTED, lambda state: S),
    "restart": (EventType.RESTART_REQUESTED, lambda state: X),
    "update": (EventType.SPEC_UPDATED, lambda state: state),
    "delete": (EventType.DELETE_REQUESTED, lambda state: D),
}


def act(writer: Writer, action: str, ref: str) -> Gateway:
    if action == "update":
        return writer.update(ref, replicas=3)
    return getattr(writer, action)(ref)  # type: ignore[no-any-return]


def case_id(case: tuple[str, State, Phase]) -> str:
    action, state, phase = case
    return f"{action} from {state}/{phase}"


@pytest.mark.parametrize("case", ALLOWED, ids=case_id)
def test_an_allowed_write_commits_the_new_state_and_exactly_one_event(
    writer: Writer, store: Store, clock: FakeClock, case: tuple[str, State, Phase]
) -> None:
    action, state, phase = case
    before = given(writer, store, clock, state, phase)
    clock.advance(5)

    after = act(writer, action, before.id)

    event_type, new_state = EFFECT[action]
    assert (after.state, after.phase) == (new_state(state), phase)
    assert after.version == before.version + 1
    assert after.updated_at == clock.now
    assert after.phase_changed_at == before.phase_changed_at  # the writer never resets the timeout
    assert writer.get(before.id) == after
    events = writer.events(before.id)
    assert len(events) == before.version + 1
    assert (events[-1].type, events[-1].version, events[-1].occurred_at) == (
        event_type,
        after.version,
        clock.now,
    )


@pytest.mark.parametrize("case", REFUSED, ids=case_id)
def test_a_refused_write_names_the_situation_and_what_is_allowed_and_writes_nothing(
    writer: Writer, store: Store, clock: FakeClock, case: tuple[str, State, Phase]
) -> None:
    action, state, phase = case
    gateway = given(writer, store, clock, state, phase)
    before = snapshot(store)

    with pytest.raises(TransitionRefused) as refused:
        act(writer, action, gateway.id)

    error = refused.value
    assert (error.action, error.state, error.phase) == (action, state, phase)
    assert f"state {state}, phase {phase}" in str(error)
    assert f"{action} is allowed when {error.allowed}" in str(error)
    assert snapshot(store) == before


# -- create --------------------------------------------------------------------------------------


def test_create_records_a_running_gateway_with_inactive_environments(
    writer: Writer, clock: FakeClock
) -> None:
    gateway = writer.create("edge", SPEC)

    assert gateway.id.startswith("gw_")
    assert (gateway.state, gateway.phase) == (State.RUNNING, Phase.CREATED)
    assert (gateway.version, gateway.spec_version) == (1, 1)
    assert (gateway.live_name, gateway.live_host) == ("edge", "edge.example.com")
    assert gateway.created_at == gateway.phase_changed_at == clock.now
    assert writer.get(gateway.id) == gateway
    environments = writer.environments("edge")
    assert [(e.name, e.state) for e in environments] == [
        ("dev", EnvironmentState.INACTIVE),
        ("prod", EnvironmentState.INACTIVE),
    ]
    [event] = writer.events("edge")
    assert (event.type, event.aggregate_type, event.aggregate_id, event.version) == (
        EventType.CREATED,
        "gateway",
        gateway.id,
        1,
    )
    assert event.payload == {
        "name": "edge",
        "state": "Running",
        "spec": {
            "image": "nginx:1.27",
            "replicas": 1,
            "port": 8080,
            "host": "edge.example.com",
            "environments": ["dev", "prod"],
        },
    }
    assert event.published_at is None


def test_create_stopped_records_a_stopped_gateway(writer: Writer) -> None:
    gateway = writer.create("edge", {"image": "nginx:1.27"}, stopped=True)

    assert (gateway.state, gateway.phase, gateway.host, gateway.live_host) == (
        State.STOPPED,
        Phase.CREATED,
        None,
        None,
    )
    assert writer.events("edge")[0].payload["state"] == "Stopped"


TAKEN = {
    "name": ("edge", {"image": "nginx:1"}, "name 'edge' is used by gateway"),
    "host": ("other", {"image": "nginx:1", "host": "EDGE.example.com."}, "host 'edge.example.com'"),
}


@pytest.mark.parametrize("what", TAKEN)
@pytest.mark.parametrize("holder_state", [R, D], ids=["running holder", "holder being deleted"])
def test_create_refuses_a_name_or_host_held_by_a_live_gateway(
    writer: Writer, store: Store, clock: FakeClock, what: str, holder_state: State
) -> None:
    name, spec, taken = TAKEN[what]
    holder = writer.create("edge", SPEC)
    if holder_state == D:
        writer.delete("edge")
        provisioner_sets(store, holder.id, clock, phase=Phase.DELETING)
    before = snapshot(store)

    with pytest.raises(NameTaken, match=taken):
        writer.create(name, spec)

    assert snapshot(store) == before


def test_a_deleted_gateways_name_and_host_can_be_used_again(
    writer: Writer, store: Store, clock: FakeClock
) -> None:
    old = writer.create("edge", SPEC)
    writer.delete("edge")
    provisioner_finishes_delete(store, old.id, clock)

    new = writer.create("edge", SPEC)

    assert new.id != old.id
    assert (new.live_name, new.live_host) == ("edge", "edge.example.com")
    assert writer.get("edge") == new
    assert writer.get(old.id).phase == Phase.DELETED
    assert [g.id for g in writer.list(phase=Phase.DELETED)] == [old.id]


def test_a_deleted_name_resolves_to_the_latest_gateway_of_that_name(
    writer: Writer, store: Store, clock: FakeClock
) -> None:
    old = writer.create("edge", SPEC)
    writer.delete("edge")
    gone = provisioner_finishes_delete(store, old.id, clock)

    assert writer.get("edge") == gone
    with pytest.raises(TransitionRefused):
        writer.delete("edge")


# -- update --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "spec"),
    [
        ({"image": "nginx:1.28"}, {"image": "nginx:1.28"}),
        ({"replicas": 4}, {"replicas": 4}),
        ({"port": 9090}, {"port": 9090}),
        ({"host": "new.example.com"}, {"host": "new.example.com"}),
        ({"host": None}, {"host": None}),
    ],
    ids=["image", "replicas", "port", "host", "no host"],
)
def test_update_changes_the_spec_and_nothing_else(
    writer: Writer, clock: FakeClock, changes: dict[str, Any], spec: dict[str, Any]
) -> None:
    before = writer.create("edge", SPEC)
    clock.advance(1)

    after = writer.update("edge", **changes)

    assert after.spec == GatewaySpec.model_validate({**SPEC, **spec})
    assert (after.host, after.live_host) == (after.spec.host, after.spec.host)
    assert (after.spec_version, after.version) == (2, 2)
    assert (after.state, after.phase) == (before.state, before.phase)
    assert writer.get("edge") == after
    [_, event] = writer.events("edge")
    assert (event.type, event.version) == (EventType.SPEC_UPDATED, 2)
    assert event.payload == {"spec": after.spec.model_dump(mode="json"), "spec_version": 2}


def test_a_removed_host_is_free_for_another_gateway(writer: Writer) -> None:
    writer.create("edge", SPEC)
    writer.update("edge", host=None)

    other = writer.create("other", {"image": "nginx:1", "host": "edge.example.com"})

    assert other.live_host == "edge.example.com"


def test_update_refuses_a_host_held_by_another_live_gateway_and_writes_nothing(
    writer: Writer, store: Store
) -> None:
    writer.create("edge", SPEC)
    writer.create("other", {"image": "nginx:1", "host": "other.example.com"})
    before = snapshot(store)

    with pytest.raises(NameTaken, match=r"host 'other\.example\.com' is used by gateway other"):
        writer.update("edge", host="other.example.com")

    assert snapshot(store) == before


def test_update_may_keep_its_own_host(writer: Writer) -> None:
    writer.create("edge", SPEC)

    after = writer.update("edge", host="edge.example.com", replicas=2)

    assert (after.live_host, after.spec.replicas) == ("edge.example.com", 2)


def test_environments_follow_the_spec_new_ones_inactive_removed_ones_gone(
    writer: Writer, store: Store
) -> None:
    gateway = writer.create("edge", SPEC)
    # The provisioner activated the existing ones; an update must not reset them.
    UnitOfWork(store).environments.set_state(gateway.id, EnvironmentState.ACTIVE)

    after = writer.update("edge", environments=["prod", "canary"])

    assert after.spec.environments == ("prod", "canary")
    assert [(e.name, e.state) for e in writer.environments("edge")] == [
        ("canary", EnvironmentState.INACTIVE),
        ("prod", EnvironmentState.ACTIVE),
    ]


@pytest.mark.parametrize(
    "changes",
    [{}, {"replicas": 1, "port": 8080}],
    ids=["no field given", "same spec"],
)
def test_an_update_that_changes_nothing_is_refused_and_writes_nothing(
    writer: Writer, store: Store, changes: dict[str, Any]
) -> None:
    writer.create("edge", SPEC)
    before = snapshot(store)

    with pytest.raises(InvalidInput, match="nothing to update"):
        writer.update("edge", **changes)

    assert snapshot(store) == before


# -- restart -------------------------------------------------------------------------------------


def test_restart_stamps_the_version_that_asked_for_it(
    writer: Writer, store: Store, clock: FakeClock
) -> None:
    gateway = writer.create("edge", SPEC)
    provisioner_sets(store, gateway.id, clock, phase=Phase.STARTED)

    restarted = writer.restart("edge")

    assert (restarted.version, restarted.restart_stamp) == (3, 3)
    assert writer.events("edge")[-1].payload == {"restart_stamp": 3}


# -- reads ---------------------------------------------------------------------------------------


def test_get_finds_a_gateway_by_id_or_name(writer: Writer) -> None:
    gateway = writer.create("edge", SPEC)

    assert writer.get(gateway.id) == writer.get("edge") == gateway


@pytest.mark.parametrize("ref", ["nope", "gw_0000000000000000"])
def test_get_and_writes_of_an_unknown_gateway_are_not_found(writer: Writer, ref: str) -> None:
    with pytest.raises(NotFound, match=ref):
        writer.get(ref)
    with pytest.raises(NotFound):
        writer.stop(ref)


def test_list_filters_by_state_and_phase(writer: Writer, store: Store, clock: FakeClock) -> None:
    running = writer.create("a", {"image": "nginx:1"})
    stopped = writer.create("b", {"image": "nginx:1"}, stopped=True)
    started = writer.create("c", {"image": "nginx:1"})
    provisioner_sets(store, started.id, clock, phase=Phase.STARTED)

    def ids(gateways: list[Gateway]) -> list[str]:
        return [g.id for g in gateways]

    assert ids(writer.list()) == [running.id, stopped.id, started.id]
    assert ids(writer.list(state=State.RUNNING)) == [running.id, started.id]
    assert ids(writer.list(phase=Phase.CREATED)) == [running.id, stopped.id]
    assert ids(writer.list(state=State.RUNNING, phase=Phase.STARTED)) == [started.id]
    assert writer.list(state=State.DELETED) == []


# -- strict optimistic locking -------------------------------------------------------------------


def test_the_expected_version_lets_a_write_through(writer: Writer) -> None:
    writer.create("edge", SPEC)

    assert writer.stop("edge", expected_version=1).version == 2


@pytest.mark.parametrize("action", ACTIONS)
def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
    writer: Writer, store: Store, clock: FakeClock, action: str
) -> None:
    gateway = writer.create("edge", SPEC)
    provisioner_sets(store, gateway.id, clock, phase=Phase.STARTED)
    before = snapshot(store)

    with pytest.raises(VersionConflict) as conflict:
        if action == "update":
            writer.update("edge", replicas=2, expected_version=1)
        else:
            getattr(writer, action)("edge", expected_version=1)

    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    assert "at version 2, not the expected 1" in str(conflict.value)
    assert snapshot(store) == before
