"""The provisioner table of DESIGN.md as one pure function: `next_step(gateway, observed, now)`.

Given the gateway document, the objects observed in the cluster and the time, it says what to do
in the cluster (apply, delete, nothing) and what to commit (the next document and its event).
No I/O: the reconciler executes the step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outbox.domain.deadlines import Timeouts, phase_deadline, start_deadline
from outbox.domain.events import EventType
from outbox.domain.model import EnvironmentState, Gateway, LastError, Phase, Retry, State
from provisioner.cluster.port import Manifest
from provisioner.manifests import (
    DEFAULT_POLICY,
    WorkloadPolicy,
    desired_objects,
    drifted,
    object_names,
    undesired_kinds,
)
from provisioner.rollout import RolloutState, replica_failure, rollout_status

START_TIMEOUT = "StartTimeout"
ROLLOUT_TIMEOUT = "RolloutTimeout"
STOP_TIMEOUT = "StopTimeout"
DELETE_TIMEOUT = "DeleteTimeout"
# The ReplicaSet controller's reason when admission refuses the pods (Pod Security, a quota).
PODS_REFUSED = "FailedCreate"
_TIMEOUT_REASONS = (START_TIMEOUT, ROLLOUT_TIMEOUT)
_DEADLINE_REASONS = (STOP_TIMEOUT, DELETE_TIMEOUT)

Desired = tuple[Manifest, ...]  # the rendered objects, in the order they are applied


class Action(StrEnum):
    NONE = "none"
    APPLY = "apply"  # apply the desired objects, delete the ones no longer desired
    DELETE = "delete"  # delete every object of the gateway


@dataclass(frozen=True)
class Config:
    namespace: str
    timeouts: Timeouts
    policy: WorkloadPolicy = DEFAULT_POLICY


@dataclass(frozen=True)
class Observed:
    """The gateway's objects in the cluster: ours by kind, and kinds held by somebody else."""

    owned: Mapping[str, Manifest] = field(default_factory=dict)
    foreign: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Step:
    action: Action
    note: str
    commit: Gateway | None = None  # the next document (version + 1), or nothing to commit
    event: EventType | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    environments: EnvironmentState | None = None
    remove_environments: bool = False
    # What an APPLY step applies, rendered once by the decision; the gateway's other objects go.
    desired: Desired = ()
    # The deadline that passed (START_TIMEOUT, ROLLOUT_TIMEOUT, ...) when the step reports one.
    timed_out: str | None = None


def next_step(gateway: Gateway, observed: Observed, now: datetime, config: Config) -> Step:
    if gateway.state == State.DELETED:
        return _toward_deleted(gateway, observed, now, config)
    if gateway.state == State.STOPPED or gateway.phase == Phase.STOPPING:
        return _toward_stopped(gateway, observed, now, config)
    return _toward_started(gateway, observed, now, config)


def _toward_deleted(gateway: Gateway, observed: Observed, now: datetime, config: Config) -> Step:
    if gateway.phase == Phase.DELETED:
        return Step(Action.NONE, "deleted")
    if gateway.phase != Phase.DELETING:
        # Enter Deleting first, then delete: the deadline counts from here, and a crash in
        # between leaves a gateway that is plainly still being deleted.
        return Step(
            Action.NONE,
            "deleting",
            _phase(gateway, Phase.DELETING, now),
            EventType.DELETING,
            environments=EnvironmentState.INACTIVE,
        )
    if not observed.owned:
        done = _phase(gateway, Phase.DELETED, now, live_name=None, live_host=None, retry=None)
        return Step(
            Action.NONE, "all objects gone", done, EventType.DELETED, remove_environments=True
        )
    return _teardown_overdue(gateway, now, config, DELETE_TIMEOUT, "delete")


def _toward_stopped(gateway: Gateway, observed: Observed, now: datetime, config: Config) -> Step:
    match gateway.phase:
        case Phase.CREATED:
            # Nothing was ever applied: there is nothing to tear down.
            return Step(
                Action.NONE, "never started", _phase(gateway, Phase.STOPPED, now), EventType.STOPPED
            )
        case Phase.STARTING | Phase.STARTED:
            return Step(
                Action.NONE,
                "stopping",
                _phase(gateway, Phase.STOPPING, now),
                EventType.STOPPING,
                environments=EnvironmentState.INACTIVE,
            )
        case Phase.STOPPING if not observed.owned:
            return Step(
                Action.NONE,
                "all objects gone",
                _phase(gateway, Phase.STOPPED, now),
                EventType.STOPPED,
            )
        case Phase.STOPPING:
            return _teardown_overdue(gateway, now, config, STOP_TIMEOUT, "stop")
    return Step(Action.NONE, "stopped")


def _teardown_overdue(
    gateway: Gateway, now: datetime, config: Config, reason: str, what: str
) -> Step:
    """Objects are still there: delete again; past the deadline, say so once and keep trying.

    The report is a step of its own (nothing in the cluster), so it is recorded even while the
    deletes themselves keep failing; the next step deletes again.
    """
    deadline = phase_deadline(gateway, config.timeouts)
    assert deadline is not None, "Stopping and Deleting have deadlines"
    already_reported = gateway.last_error is not None and gateway.last_error.reason == reason
    if now <= deadline or already_reported:
        return Step(Action.DELETE, f"waiting for objects to go ({what})")
    waited = int((deadline - gateway.phase_changed_at).total_seconds())
    message = f"objects still present {waited}s after the {what} began; still deleting"
    failed = _next(gateway, now, last_error=LastError(reason=reason, message=message, at=now))
    return Step(
        Action.NONE,
        f"{what} overdue",
        failed,
        EventType.FAILED,
        {"reason": reason, "message": message},
        timed_out=reason,
    )


def _toward_started(gateway: Gateway, observed: Observed, now: datetime, config: Config) -> Step:
    desired = tuple(
        desired_objects(
            gateway,
            namespace=config.namespace,
            start_timeout_seconds=int(config.timeouts.start),
            policy=config.policy,
        )
    )
    match gateway.phase:
        case Phase.CREATED | Phase.STOPPED:
            return _begin(gateway, observed, desired, now, config)
        case Phase.STARTED if gateway.state == State.RESTARTING or _outdated(gateway):
            return _begin(gateway, observed, desired, now, config)
        case Phase.STARTED:
            return _check_drift(gateway, observed, desired, now)
        case Phase.STARTING:
            return _watch_rollout(gateway, observed, desired, now, config)
    return Step(Action.NONE, f"nothing to do in phase {gateway.phase}")


def _begin(
    gateway: Gateway, observed: Observed, desired: Desired, now: datetime, config: Config
) -> Step:
    """Enter Starting by applying; once the start deadline has passed, end the start instead.

    The deadline is checked before the apply: an apply that keeps failing (a foreign object,
    a rejected manifest) must not keep the start going past it.
    """
    if now < start_deadline(gateway, config.timeouts.start):
        rollout = gateway.phase == Phase.STARTED
        note = "rolling out a new spec or restart" if rollout else "starting"
        return _start(gateway, desired, now, note)
    if gateway.phase == Phase.STARTED:
        blocker = _blocker(gateway, observed, desired, "the new objects could not be applied")
        return _later_rollout_failed(gateway, now, config, blocker)
    blocker = _blocker(gateway, observed, desired, "nothing could be applied")
    return _first_start_failed(gateway, now, config, blocker, teardown=bool(observed.owned))


def _outdated(gateway: Gateway) -> bool:
    return (
        gateway.applied_spec_version < gateway.spec_version
        or gateway.applied_restart_stamp < gateway.restart_stamp
    )


def _start(gateway: Gateway, desired: Desired, now: datetime, note: str) -> Step:
    starting = _phase(
        gateway,
        Phase.STARTING,
        now,
        applied_spec_version=gateway.spec_version,
        applied_restart_stamp=gateway.restart_stamp,
    )
    payload = {"spec_version": gateway.spec_version}
    return Step(Action.APPLY, note, starting, EventType.STARTING, payload, desired=desired)


def _watch_rollout(
    gateway: Gateway, observed: Observed, desired: Desired, now: datetime, config: Config
) -> Step:
    """Starting: done once the rollout completes with every object as asked; until the start
    deadline, apply again whatever is missing or newer."""
    outdated = _outdated(gateway)
    incomplete = _missing_or_unwanted(gateway, observed, desired)
    deployment = observed.owned.get("Deployment")
    status = rollout_status(deployment)
    if status.state is RolloutState.COMPLETE and not (outdated or incomplete):
        return _started(gateway, now)
    refused = replica_failure(deployment)
    if now >= start_deadline(gateway, config.timeouts.start):
        blocker = _blocker(gateway, observed, desired, refused or status.message)
        return _rollout_failed(gateway, now, config, blocker)
    if outdated or incomplete:
        return _apply_again(gateway, now, desired, outdated=outdated)
    if status.state is RolloutState.FAILED:
        return _rollout_failed(gateway, now, config, refused or status.message)
    if refused is not None:
        return _pods_refused(gateway, now, refused)
    return Step(Action.NONE, f"rollout in progress: {status.message}")


def _apply_again(gateway: Gateway, now: datetime, desired: Desired, *, outdated: bool) -> Step:
    """Starting, with a newer spec or with objects missing: apply what is asked for now."""
    if outdated:
        # A newer spec while starting: apply it (the writer moved the start deadline with it).
        newer = _next(
            gateway,
            now,
            applied_spec_version=gateway.spec_version,
            applied_restart_stamp=gateway.restart_stamp,
        )
        return Step(Action.APPLY, "applying a newer spec while starting", newer, desired=desired)
    note = "objects missing while starting: applying again"
    return Step(Action.APPLY, note, desired=desired)


def _pods_refused(gateway: Gateway, now: datetime, message: str) -> Step:
    """Admission refuses the pods: say so at once, once; no pod comes before the deadline.

    The start goes on (a namespace label or a quota may change), and its deadline ends it.
    """
    error = gateway.last_error
    if error is not None and (error.reason, error.message) == (PODS_REFUSED, message):
        return Step(Action.NONE, f"pods refused: {message}")
    refused = _next(
        gateway, now, last_error=LastError(reason=PODS_REFUSED, message=message, at=now)
    )
    return Step(
        Action.NONE,
        "pods refused",
        refused,
        EventType.FAILED,
        {"reason": PODS_REFUSED, "message": message},
    )


def _started(gateway: Gateway, now: datetime) -> Step:
    """The rollout completed: the gateway serves, and any earlier error is over."""
    started = _phase(
        gateway,
        Phase.STARTED,
        now,
        state=State.RUNNING,
        ever_started=True,
        last_error=None,
        retry=None,
    )
    return Step(
        Action.NONE,
        "rollout complete",
        started,
        EventType.STARTED,
        environments=EnvironmentState.ACTIVE,
    )


def _blocker(gateway: Gateway, observed: Observed, desired: Desired, otherwise: str) -> str:
    """What kept the start from finishing, as a person would want it named."""
    names = object_names(gateway.name)
    held = [f"{kind} {names[kind]} is held by another owner" for kind in sorted(observed.foreign)]
    if held:
        return "; ".join(held)
    starting = gateway.phase == Phase.STARTING
    missing = [m["kind"] for m in desired if m["kind"] not in observed.owned] if starting else []
    # The last error explains an apply that was needed; once applied, the rollout says more.
    applying = not starting or bool(missing) or _outdated(gateway)
    error = gateway.last_error
    if applying and error is not None and error.reason not in _TIMEOUT_REASONS + _DEADLINE_REASONS:
        return f"{error.reason}: {error.message}"
    if missing:
        return "; ".join(f"{kind} {names[kind]} is missing" for kind in missing)
    return otherwise


def _rollout_failed(gateway: Gateway, now: datetime, config: Config, blocker: str) -> Step:
    if gateway.ever_started:
        return _later_rollout_failed(gateway, now, config, blocker)
    return _first_start_failed(gateway, now, config, blocker, teardown=True)


def _first_start_failed(
    gateway: Gateway, now: datetime, config: Config, blocker: str, *, teardown: bool
) -> Step:
    """Graceful degradation: a first start that cannot finish is stopped; the user may retry.

    With nothing of ours in the cluster there is nothing to tear down: straight to Stopped.
    """
    message = f"the start did not complete within {int(config.timeouts.start)}s: {blocker}"
    error = LastError(reason=START_TIMEOUT, message=message, at=now)
    phase = Phase.STOPPING if teardown else Phase.STOPPED
    degraded = _move(gateway, phase, now, state=State.STOPPED, last_error=error, retry=None)
    return Step(
        Action.NONE,
        "first start timed out",
        degraded,
        EventType.START_TIMED_OUT,
        {"reason": START_TIMEOUT, "message": message},
        environments=EnvironmentState.INACTIVE,
        timed_out=START_TIMEOUT,
    )


def _later_rollout_failed(gateway: Gateway, now: datetime, config: Config, blocker: str) -> Step:
    """The old pods keep serving, so the gateway stays Started and says why.

    The rollout is given up (applied = asked for), so the gateway rests; the drift check keeps
    bringing the objects to the spec from there.
    """
    message = (
        f"the rollout did not complete within {int(config.timeouts.start)}s; "
        f"the previous pods keep serving: {blocker}"
    )
    error = LastError(reason=ROLLOUT_TIMEOUT, message=message, at=now)
    changes: dict[str, Any] = {
        "state": State.RUNNING,
        "last_error": error,
        "retry": None,
        "applied_spec_version": gateway.spec_version,
        "applied_restart_stamp": gateway.restart_stamp,
    }
    kept = _move(gateway, Phase.STARTED, now, **changes)
    return Step(
        Action.NONE,
        "rollout timed out",
        kept,
        EventType.FAILED,
        {"reason": ROLLOUT_TIMEOUT, "message": message},
        timed_out=ROLLOUT_TIMEOUT,
    )


def _check_drift(gateway: Gateway, observed: Observed, desired: Desired, now: datetime) -> Step:
    drifted_kinds = [
        manifest["kind"]
        for manifest in desired
        if manifest["kind"] not in observed.foreign
        and drifted(manifest, observed.owned.get(manifest["kind"]))
    ]
    unwanted = [kind for kind in undesired_kinds(gateway) if kind in observed.owned]
    if not drifted_kinds and not unwanted:
        return Step(Action.NONE, "started, no drift")
    kinds = drifted_kinds + unwanted
    repaired = _next(gateway, now)
    return Step(
        Action.APPLY,
        f"drift in {', '.join(kinds)}",
        repaired,
        EventType.DRIFT_REPAIRED,
        {"kinds": kinds},
        desired=desired,
    )


def _missing_or_unwanted(gateway: Gateway, observed: Observed, desired: Desired) -> bool:
    missing = any(manifest["kind"] not in observed.owned for manifest in desired)
    return missing or any(kind in observed.owned for kind in undesired_kinds(gateway))


def _start_pending(gateway: Gateway) -> bool:
    """A start or rollout was asked for and has not ended: its deadline applies."""
    starts = gateway.phase in (Phase.CREATED, Phase.STOPPED, Phase.STARTING, Phase.STARTED)
    running = gateway.state in (State.RUNNING, State.RESTARTING)
    return running and starts and not gateway.at_rest


def _phase(gateway: Gateway, phase: Phase, now: datetime, **changes: Any) -> Gateway:
    """The next document in a new phase: the timeout clock restarts only here."""
    if "last_error" not in changes and _keeps_error(gateway) is False:
        changes["last_error"] = None
    changes.setdefault("retry", None)
    return _next(gateway, now, phase=phase, phase_changed_at=now, **changes)


def _move(gateway: Gateway, phase: Phase, now: datetime, **changes: Any) -> Gateway:
    """To `phase`, restarting its clock only if the phase really changes."""
    if phase == gateway.phase:
        return _next(gateway, now, **changes)
    return _phase(gateway, phase, now, **changes)


def _keeps_error(gateway: Gateway) -> bool:
    # A timeout stays visible until the next successful start; other errors clear on progress.
    return gateway.last_error is not None and gateway.last_error.reason in _TIMEOUT_REASONS


def _next(gateway: Gateway, now: datetime, **changes: Any) -> Gateway:
    return gateway.evolve(version=gateway.version + 1, updated_at=now, **changes)


def failed_step(
    gateway: Gateway,
    *,
    reason: str,
    message: str,
    permanent: bool,
    now: datetime,
    delay: Callable[[int], float],
    start_timeout: float | None = None,
) -> Step:
    """A step that could not be taken: record why and when to try again.

    Temporary failures are quiet (the sweeper retries when due); a permanent one also emits
    GatewayFailed, once per distinct error, so a person is told without being flooded.
    """
    retry = _retry(gateway, now, delay, start_timeout)
    note = f"{reason}: {message}"
    previous = gateway.last_error
    if not permanent and previous is not None and previous.reason in _DEADLINE_REASONS:
        # An overdue teardown says more than the hiccup that keeps it overdue: keep it shown
        # (and reported once), and only schedule the retry.
        return Step(Action.NONE, note, _next(gateway, now, retry=retry))
    repeated = previous is not None and (previous.reason, previous.message) == (reason, message)
    # Keep the timestamp of the first occurrence: it says how long this has been going on.
    error = (
        previous
        if repeated and previous is not None
        else LastError(reason=reason, message=message, at=now)
    )
    recorded = _next(gateway, now, last_error=error, retry=retry)
    event = EventType.FAILED if permanent and not repeated else None
    return Step(Action.NONE, note, recorded, event, {"reason": reason, "message": message})


def _retry(
    gateway: Gateway, now: datetime, delay: Callable[[int], float], start_timeout: float | None
) -> Retry:
    """The next attempt, after the back-off; while a start is pending, not past its deadline.

    The look at the start deadline must not wait out a back-off.
    """
    attempts = (gateway.retry.attempts if gateway.retry is not None else 0) + 1
    next_at = now + timedelta(seconds=delay(attempts))
    if start_timeout is not None and _start_pending(gateway):
        # Past the deadline the next look ends the start without an apply; a failure then (the
        # cluster cannot even be read) keeps its full back-off instead of retrying every sweep.
        deadline = start_deadline(gateway, start_timeout)
        next_at = min(next_at, deadline) if deadline > now else next_at
    return Retry(attempts=attempts, next_at=next_at)
