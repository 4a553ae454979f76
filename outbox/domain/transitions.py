"""The writer table of DESIGN.md as pure functions: user intent in, the changed gateway out.

Each function checks that the transition is allowed, returns the new document (version + 1) and
the single event to record with it, or raises TransitionRefused. No I/O, no clock of its own.
New intent clears a pending retry: the provisioner acts on it now instead of after a back-off.
Intent that asks for a start (create without --stopped, start, restart, a spec update of a running
gateway) records `start_requested_at`: the start timeout counts from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.domain.errors import InvalidInput, TransitionRefused
from outbox.domain.events import EventType
from outbox.domain.model import Gateway, GatewaySpec, Phase, State


@dataclass(frozen=True)
class Change:
    """A gateway after a write, and what the outbox should say about it."""

    gateway: Gateway
    event_type: EventType
    payload: dict[str, Any]


def create(
    gateway_id: str, name: str, spec: GatewaySpec, *, stopped: bool, now: datetime
) -> Change:
    state = State.STOPPED if stopped else State.RUNNING
    gateway = Gateway(
        id=gateway_id,
        name=name,
        live_name=name,
        host=spec.host,
        live_host=spec.host,
        spec=spec,
        spec_version=1,
        state=state,
        phase=Phase.CREATED,
        version=1,
        phase_changed_at=now,
        start_requested_at=None if stopped else now,
        created_at=now,
        updated_at=now,
    )
    payload = {"name": name, "spec": _spec_payload(spec), "state": str(state)}
    return Change(gateway, EventType.CREATED, payload)


def start(gateway: Gateway, *, now: datetime) -> Change:
    if gateway.state != State.STOPPED or gateway.phase not in (Phase.STOPPED, Phase.CREATED):
        raise TransitionRefused(
            "start", gateway.state, gateway.phase, "state is Stopped and phase Stopped or Created"
        )
    return _intent(gateway, State.RUNNING, EventType.START_REQUESTED, now, start_requested_at=now)


def stop(gateway: Gateway, *, now: datetime) -> Change:
    if gateway.state not in (State.RUNNING, State.RESTARTING) or gateway.phase in (
        Phase.DELETING,
        Phase.DELETED,
    ):
        raise TransitionRefused(
            "stop",
            gateway.state,
            gateway.phase,
            "state is Running or Restarting and phase is not Deleting or Deleted",
        )
    return _intent(gateway, State.STOPPED, EventType.STOP_REQUESTED, now)


def restart(gateway: Gateway, *, now: datetime) -> Change:
    if gateway.state != State.RUNNING or gateway.phase != Phase.STARTED:
        raise TransitionRefused(
            "restart", gateway.state, gateway.phase, "state is Running and phase Started"
        )
    version = gateway.version + 1
    # The stamp is the version that asked for it: a retried apply renders the same pod template,
    # so it can never start a second rollout.
    changed = gateway.evolve(
        state=State.RESTARTING,
        restart_stamp=version,
        version=version,
        updated_at=now,
        retry=None,
        start_requested_at=now,
    )
    return Change(changed, EventType.RESTART_REQUESTED, {"restart_stamp": version})


def update(gateway: Gateway, spec: GatewaySpec, *, now: datetime) -> Change:
    if gateway.state == State.DELETED:
        raise TransitionRefused("update", gateway.state, gateway.phase, "state is not Deleted")
    if spec == gateway.spec:
        raise InvalidInput(f"nothing to update: gateway {gateway.name} already has that spec")
    # A stopped gateway only takes the spec for its next start; a running one rolls it out now.
    starts = gateway.state in (State.RUNNING, State.RESTARTING)
    changed = gateway.evolve(
        spec=spec,
        host=spec.host,
        live_host=spec.host,
        spec_version=gateway.spec_version + 1,
        version=gateway.version + 1,
        updated_at=now,
        retry=None,
        start_requested_at=now if starts else gateway.start_requested_at,
    )
    payload = {"spec": _spec_payload(spec), "spec_version": changed.spec_version}
    return Change(changed, EventType.SPEC_UPDATED, payload)


def delete(gateway: Gateway, *, now: datetime) -> Change:
    if gateway.state == State.DELETED:
        raise TransitionRefused("delete", gateway.state, gateway.phase, "state is not Deleted")
    return _intent(gateway, State.DELETED, EventType.DELETE_REQUESTED, now)


def _intent(
    gateway: Gateway, state: State, event_type: EventType, now: datetime, **changes: Any
) -> Change:
    changed = gateway.evolve(
        state=state, version=gateway.version + 1, updated_at=now, retry=None, **changes
    )
    return Change(changed, event_type, {"state": str(state)})


def _spec_payload(spec: GatewaySpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")
