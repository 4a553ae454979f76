"""The writer table as pure functions: every (state, phase) against every action, no store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from outbox.domain import transitions
from outbox.domain.errors import InvalidInput, TransitionRefused
from outbox.domain.events import EventType
from outbox.domain.model import Gateway, GatewaySpec, Phase, State

THEN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW = THEN + timedelta(minutes=5)
SPEC = GatewaySpec(image="nginx:1.27", host="edge.example.com", environments=("dev",))


def gateway_in(state: State, phase: Phase, *, version: int = 4) -> Gateway:
    created = transitions.create("gw_1", "edge", SPEC, stopped=False, now=THEN).gateway
    return created.evolve(state=state, phase=phase, version=version)


def decide(action: str, gateway: Gateway) -> transitions.Change:
    if action == "update":
        return transitions.update(gateway, SPEC.model_copy(update={"replicas": 3}), now=NOW)
    return getattr(transitions, action)(gateway, now=NOW)  # type: ignore[no-any-return]


# DESIGN.md's writer table, written out independently: (allowed when, state after, event).
Row = tuple[Callable[[State, Phase], bool], Callable[[State], State], EventType]
TABLE: dict[str, Row] = {
    "start": (
        lambda s, p: s == State.STOPPED and p in (Phase.STOPPED, Phase.CREATED),
        lambda s: State.RUNNING,
        EventType.START_REQUESTED,
    ),
    "stop": (
        lambda s, p: (
            s in (State.RUNNING, State.RESTARTING) and p not in (Phase.DELETING, Phase.DELETED)
        ),
        lambda s: State.STOPPED,
        EventType.STOP_REQUESTED,
    ),
    "restart": (
        lambda s, p: s == State.RUNNING and p == Phase.STARTED,
        lambda s: State.RESTARTING,
        EventType.RESTART_REQUESTED,
    ),
    "update": (lambda s, p: s != State.DELETED, lambda s: s, EventType.SPEC_UPDATED),
    "delete": (
        lambda s, p: s != State.DELETED,
        lambda s: State.DELETED,
        EventType.DELETE_REQUESTED,
    ),
}
# What each refusal must tell the user is allowed.
ALLOWED_WHEN = {
    "start": "state is Stopped and phase Stopped or Created",
    "stop": "state is Running or Restarting and phase is not Deleting or Deleted",
    "restart": "state is Running and phase Started",
    "update": "state is not Deleted",
    "delete": "state is not Deleted",
}
CASES = [(a, s, p) for a in TABLE for s in State for p in Phase]


def case_id(case: tuple[str, State, Phase]) -> str:
    return "{} from {}/{}".format(*case)


@pytest.mark.parametrize("case", [c for c in CASES if TABLE[c[0]][0](c[1], c[2])], ids=case_id)
def test_an_allowed_transition_changes_the_state_and_bumps_the_version(
    case: tuple[str, State, Phase],
) -> None:
    action, state, phase = case
    _, state_after, event_type = TABLE[action]
    before = gateway_in(state, phase)

    change = decide(action, before)

    after = change.gateway
    assert change.event_type == event_type
    assert (after.state, after.phase, after.version) == (state_after(state), phase, 5)
    assert after.updated_at == NOW
    # The timeout clock belongs to the phase: user intent must not reset it.
    assert after.phase_changed_at == before.phase_changed_at == THEN
    assert (after.id, after.name, after.live_name, after.created_at) == (
        before.id,
        before.name,
        before.live_name,
        before.created_at,
    )


@pytest.mark.parametrize("case", [c for c in CASES if not TABLE[c[0]][0](c[1], c[2])], ids=case_id)
def test_a_refused_transition_names_the_state_the_phase_and_what_is_allowed(
    case: tuple[str, State, Phase],
) -> None:
    action, state, phase = case

    with pytest.raises(TransitionRefused) as refused:
        decide(action, gateway_in(state, phase))

    assert (refused.value.action, refused.value.state, refused.value.phase) == case
    assert str(refused.value) == (
        f"cannot {action}: gateway is state {state}, phase {phase}; "
        f"{action} is allowed when {ALLOWED_WHEN[action]}"
    )


def test_every_action_has_allowed_and_refused_situations() -> None:
    for action, (allowed, _, _) in TABLE.items():
        outcomes = {allowed(state, phase) for state in State for phase in Phase}
        assert outcomes == {True, False}, action


@pytest.mark.parametrize(("stopped", "state"), [(False, State.RUNNING), (True, State.STOPPED)])
def test_create_starts_in_phase_created_at_version_one(stopped: bool, state: State) -> None:
    change = transitions.create("gw_1", "edge", SPEC, stopped=stopped, now=NOW)

    gateway = change.gateway
    assert (gateway.state, gateway.phase, gateway.version, gateway.spec_version) == (
        state,
        Phase.CREATED,
        1,
        1,
    )
    assert (gateway.live_name, gateway.host, gateway.live_host) == ("edge", *(2 * [SPEC.host]))
    assert (gateway.applied_spec_version, gateway.restart_stamp, gateway.ever_started) == (
        0,
        0,
        False,
    )
    assert gateway.created_at == gateway.updated_at == gateway.phase_changed_at == NOW
    assert change.event_type == EventType.CREATED
    assert change.payload == {
        "name": "edge",
        "state": str(state),
        "spec": {
            "image": "nginx:1.27",
            "replicas": 1,
            "port": 8080,
            "host": "edge.example.com",
            "environments": ["dev"],
        },
    }


def test_restart_stamps_the_version_that_requested_it() -> None:
    change = transitions.restart(gateway_in(State.RUNNING, Phase.STARTED, version=7), now=NOW)

    assert (change.gateway.version, change.gateway.restart_stamp) == (8, 8)
    assert change.payload == {"restart_stamp": 8}


def test_update_bumps_the_spec_version_and_moves_the_live_host() -> None:
    before = gateway_in(State.RUNNING, Phase.STARTED).evolve(spec_version=2)

    change = transitions.update(
        before, SPEC.model_copy(update={"host": "new.example.com"}), now=NOW
    )

    after = change.gateway
    assert (after.spec_version, after.host, after.live_host) == (
        3,
        "new.example.com",
        "new.example.com",
    )
    assert change.payload["spec_version"] == 3
    assert change.payload["spec"]["host"] == "new.example.com"


def test_update_to_no_host_clears_the_live_host() -> None:
    change = transitions.update(
        gateway_in(State.RUNNING, Phase.STARTED), SPEC.model_copy(update={"host": None}), now=NOW
    )

    assert (change.gateway.host, change.gateway.live_host) == (None, None)
    assert "live_host" not in change.gateway.to_document()


def test_update_to_the_same_spec_is_refused_as_nothing_to_update() -> None:
    with pytest.raises(InvalidInput, match="nothing to update: gateway edge already has that spec"):
        transitions.update(gateway_in(State.RUNNING, Phase.STARTED), SPEC, now=NOW)


@pytest.mark.parametrize(
    ("action", "state", "phase"),
    [
        ("start", State.STOPPED, Phase.STOPPED),
        ("stop", State.RUNNING, Phase.STARTED),
        ("delete", State.RUNNING, Phase.STARTED),
    ],
)
def test_intent_payloads_carry_the_new_state(action: str, state: State, phase: Phase) -> None:
    change = decide(action, gateway_in(state, phase))

    assert change.payload == {"state": str(change.gateway.state)}


# -- the start clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "state", "phase"),
    [
        ("start", State.STOPPED, Phase.STOPPED),
        ("start", State.STOPPED, Phase.CREATED),
        ("restart", State.RUNNING, Phase.STARTED),
        ("update", State.RUNNING, Phase.STARTED),
        ("update", State.RUNNING, Phase.STARTING),
        ("update", State.RESTARTING, Phase.STARTING),
    ],
)
def test_every_request_for_a_start_records_when_it_was_asked(
    action: str, state: State, phase: Phase
) -> None:
    change = decide(action, gateway_in(state, phase))

    # The start timeout counts from here, whatever the phase did meanwhile.
    assert change.gateway.start_requested_at == NOW


@pytest.mark.parametrize(
    ("action", "state", "phase"),
    [
        ("stop", State.RUNNING, Phase.STARTING),
        ("delete", State.RUNNING, Phase.STARTED),
        ("update", State.STOPPED, Phase.STOPPED),  # taken at the next start, not now
    ],
)
def test_intent_that_asks_for_no_start_leaves_the_start_clock_alone(
    action: str, state: State, phase: Phase
) -> None:
    before = gateway_in(state, phase)

    change = decide(action, before)

    assert change.gateway.start_requested_at == before.start_requested_at == THEN


@pytest.mark.parametrize(("stopped", "requested"), [(False, NOW), (True, None)])
def test_create_asks_for_a_start_unless_stopped(stopped: bool, requested: datetime | None) -> None:
    change = transitions.create("gw_1", "edge", SPEC, stopped=stopped, now=NOW)

    assert change.gateway.start_requested_at == requested
