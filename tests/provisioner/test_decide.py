"""The provisioner table of DESIGN.md, row by row, as the pure `next_step` decides it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outbox.domain.deadlines import Timeouts
from outbox.domain.events import EventType as E
from outbox.domain.model import (
    EnvironmentState,
    Gateway,
    GatewaySpec,
    LastError,
    Phase,
    Retry,
    State,
)
from provisioner.decide import Action, Config, Observed, failed_step, next_step
from provisioner.manifests import desired_objects

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = Config(namespace="gateways", timeouts=Timeouts(start=300, stop=120, delete=120))


def gateway(state: State, phase: Phase, **changes: Any) -> Gateway:
    spec = GatewaySpec(image="nginx:1.27", host=changes.pop("host", None))
    values: dict[str, Any] = {
        "id": "gw_1",
        "name": "edge",
        "live_name": "edge",
        "host": spec.host,
        "live_host": spec.host,
        "spec": spec,
        "spec_version": 1,
        "applied_spec_version": 1,
        "state": state,
        "phase": phase,
        "version": 5,
        "phase_changed_at": NOW - timedelta(seconds=10),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(changes)
    return Gateway.model_validate(values)


def observed(gw: Gateway, rollout: str | None) -> Observed:
    """Our objects as the cluster would show them: none, or with a rollout in some state."""
    if rollout is None:
        return Observed()
    objects = {
        m["kind"]: m for m in desired_objects(gw, namespace="gateways", start_timeout_seconds=300)
    }
    deployment = objects["Deployment"]
    deployment["metadata"]["generation"] = 2
    ready = rollout == "complete"
    deployment["status"] = {
        "observedGeneration": 2,
        "replicas": 1,
        "updatedReplicas": 1 if ready else 0,
        "availableReplicas": 1 if ready else 0,
        "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
        if rollout == "failed"
        else [],
    }
    return Observed(owned=objects)


ROWS = [
    # state, phase, changes, cluster, action, next (state, phase) or None, event
    (
        State.STOPPED,
        Phase.CREATED,
        {},
        None,
        Action.NONE,
        (State.STOPPED, Phase.STOPPED),
        E.STOPPED,
    ),
    (
        State.RUNNING,
        Phase.CREATED,
        {},
        None,
        Action.APPLY,
        (State.RUNNING, Phase.STARTING),
        E.STARTING,
    ),
    (
        State.RUNNING,
        Phase.STOPPED,
        {},
        None,
        Action.APPLY,
        (State.RUNNING, Phase.STARTING),
        E.STARTING,
    ),
    (
        State.RESTARTING,
        Phase.STARTED,
        {"restart_stamp": 4},
        "complete",
        Action.APPLY,
        (State.RESTARTING, Phase.STARTING),
        E.STARTING,
    ),
    (
        State.RUNNING,
        Phase.STARTED,
        {"spec_version": 2},
        "complete",
        Action.APPLY,
        (State.RUNNING, Phase.STARTING),
        E.STARTING,
    ),
    (
        State.RUNNING,
        Phase.STARTING,
        {"spec_version": 2},
        "progressing",
        Action.APPLY,
        (State.RUNNING, Phase.STARTING),
        None,
    ),
    (
        State.RUNNING,
        Phase.STARTING,
        {},
        "complete",
        Action.NONE,
        (State.RUNNING, Phase.STARTED),
        E.STARTED,
    ),
    (
        State.RESTARTING,
        Phase.STARTING,
        {"restart_stamp": 4, "applied_restart_stamp": 4},
        "complete",
        Action.NONE,
        (State.RUNNING, Phase.STARTED),
        E.STARTED,
    ),
    (State.RUNNING, Phase.STARTING, {}, "progressing", Action.NONE, None, None),
    (
        State.RUNNING,
        Phase.STARTING,
        {},
        "failed",
        Action.NONE,
        (State.STOPPED, Phase.STOPPING),
        E.START_TIMED_OUT,
    ),
    (
        State.RUNNING,
        Phase.STARTING,
        {"phase_changed_at": NOW - timedelta(seconds=301)},
        "progressing",
        Action.NONE,
        (State.STOPPED, Phase.STOPPING),
        E.START_TIMED_OUT,
    ),
    (
        State.RUNNING,
        Phase.STARTING,
        {"ever_started": True},
        "failed",
        Action.NONE,
        (State.RUNNING, Phase.STARTED),
        E.FAILED,
    ),
    (
        State.RESTARTING,
        Phase.STARTING,
        {"ever_started": True, "phase_changed_at": NOW - timedelta(seconds=301)},
        "progressing",
        Action.NONE,
        (State.RUNNING, Phase.STARTED),
        E.FAILED,
    ),
    (
        State.STOPPED,
        Phase.STARTING,
        {},
        "progressing",
        Action.NONE,
        (State.STOPPED, Phase.STOPPING),
        E.STOPPING,
    ),
    (
        State.STOPPED,
        Phase.STARTED,
        {},
        "complete",
        Action.NONE,
        (State.STOPPED, Phase.STOPPING),
        E.STOPPING,
    ),
    (State.STOPPED, Phase.STOPPING, {}, "complete", Action.DELETE, None, None),
    (
        State.STOPPED,
        Phase.STOPPING,
        {},
        None,
        Action.NONE,
        (State.STOPPED, Phase.STOPPED),
        E.STOPPED,
    ),
    (
        State.STOPPED,
        Phase.STOPPING,
        {"phase_changed_at": NOW - timedelta(seconds=121)},
        "complete",
        Action.NONE,
        (State.STOPPED, Phase.STOPPING),
        E.FAILED,
    ),
    (
        State.DELETED,
        Phase.STARTED,
        {},
        "complete",
        Action.NONE,
        (State.DELETED, Phase.DELETING),
        E.DELETING,
    ),
    (
        State.DELETED,
        Phase.CREATED,
        {},
        None,
        Action.NONE,
        (State.DELETED, Phase.DELETING),
        E.DELETING,
    ),
    (
        State.DELETED,
        Phase.STOPPED,
        {},
        None,
        Action.NONE,
        (State.DELETED, Phase.DELETING),
        E.DELETING,
    ),
    (State.DELETED, Phase.DELETING, {}, "complete", Action.DELETE, None, None),
    (
        State.DELETED,
        Phase.DELETING,
        {},
        None,
        Action.NONE,
        (State.DELETED, Phase.DELETED),
        E.DELETED,
    ),
    (
        State.DELETED,
        Phase.DELETING,
        {"phase_changed_at": NOW - timedelta(seconds=121)},
        "complete",
        Action.NONE,
        (State.DELETED, Phase.DELETING),
        E.FAILED,
    ),
    (State.DELETED, Phase.DELETED, {}, None, Action.NONE, None, None),
    (State.STOPPED, Phase.STOPPED, {}, None, Action.NONE, None, None),
    (State.RUNNING, Phase.STARTED, {}, "complete", Action.NONE, None, None),
    (
        State.RUNNING,
        Phase.STARTED,
        {},
        None,
        Action.APPLY,
        (State.RUNNING, Phase.STARTED),
        E.DRIFT_REPAIRED,
    ),
]


@pytest.mark.parametrize(("state", "phase", "changes", "cluster", "action", "after", "event"), ROWS)
def test_the_provisioner_table(
    state: State,
    phase: Phase,
    changes: dict[str, Any],
    cluster: str | None,
    action: Action,
    after: tuple[State, Phase] | None,
    event: E | None,
) -> None:
    gw = gateway(state, phase, **changes)
    step = next_step(gw, observed(gw, cluster), NOW, CONFIG)
    assert step.action is action
    assert step.event is event
    # An apply carries the objects it applies, rendered once; other steps carry none.
    rendered = desired_objects(gw, namespace="gateways", start_timeout_seconds=300)
    assert step.desired == (tuple(rendered) if action is Action.APPLY else ())
    if after is None:
        assert step.commit is None
        return
    assert step.commit is not None
    assert (step.commit.state, step.commit.phase) == after
    assert step.commit.version == gw.version + 1
    # The timeout clock moves with the phase, and only with it.
    assert (step.commit.phase_changed_at == NOW) == (step.commit.phase != gw.phase)


def test_starting_records_what_was_applied() -> None:
    gw = gateway(State.RESTARTING, Phase.STARTED, spec_version=3, restart_stamp=4)
    step = next_step(gw, observed(gw, "complete"), NOW, CONFIG)
    assert step.commit is not None
    assert (step.commit.applied_spec_version, step.commit.applied_restart_stamp) == (3, 4)


def test_started_activates_environments_clears_errors_and_remembers_it_ever_started() -> None:
    error = LastError(reason="ClusterUnavailable", message="503", at=NOW)
    gw = gateway(State.RUNNING, Phase.STARTING, last_error=error)
    step = next_step(gw, observed(gw, "complete"), NOW, CONFIG)
    assert step.environments is EnvironmentState.ACTIVE
    assert step.commit is not None and step.commit.ever_started and step.commit.last_error is None


def test_a_first_start_timeout_is_kept_visible_after_the_teardown() -> None:
    gw = gateway(State.RUNNING, Phase.STARTING, phase_changed_at=NOW - timedelta(seconds=301))
    degraded = next_step(gw, observed(gw, "progressing"), NOW, CONFIG).commit
    assert degraded is not None and degraded.last_error is not None
    stopped = next_step(degraded, Observed(), NOW, CONFIG).commit
    assert stopped is not None and stopped.phase == Phase.STOPPED
    assert stopped.last_error is not None and stopped.last_error.reason == "StartTimeout"


def test_deleted_frees_the_name_and_host_and_removes_environments() -> None:
    gw = gateway(State.DELETED, Phase.DELETING, host="edge.example.com")
    step = next_step(gw, Observed(), NOW, CONFIG)
    assert step.commit is not None and step.remove_environments
    assert (step.commit.live_name, step.commit.live_host) == (None, None)
    assert step.commit.name == "edge"


def test_an_overdue_teardown_is_reported_once() -> None:
    gw = gateway(
        State.STOPPED,
        Phase.STOPPING,
        phase_changed_at=NOW - timedelta(seconds=500),
        last_error=LastError(reason="StopTimeout", message="still there", at=NOW),
    )
    step = next_step(gw, observed(gw, "complete"), NOW, CONFIG)
    assert step.action is Action.DELETE and step.commit is None


OVERDUE = NOW - timedelta(seconds=121)  # past the 120 s stop and delete timeouts
STOP_REPORTED = LastError(reason="StopTimeout", message="still there", at=NOW)

TIMED_OUT_ROWS = {
    "first start past its deadline": (
        State.RUNNING,
        Phase.STARTING,
        {"phase_changed_at": NOW - timedelta(seconds=301)},
        "progressing",
        "StartTimeout",
    ),
    "first start whose rollout failed": (
        State.RUNNING,
        Phase.STARTING,
        {},
        "failed",
        "StartTimeout",
    ),
    "later rollout past its deadline": (
        State.RUNNING,
        Phase.STARTING,
        {"ever_started": True, "phase_changed_at": NOW - timedelta(seconds=301)},
        "progressing",
        "RolloutTimeout",
    ),
    "stop overdue": (
        State.STOPPED,
        Phase.STOPPING,
        {"phase_changed_at": OVERDUE},
        "complete",
        "StopTimeout",
    ),
    "delete overdue": (
        State.DELETED,
        Phase.DELETING,
        {"phase_changed_at": OVERDUE},
        "complete",
        "DeleteTimeout",
    ),
    "stop overdue, already reported": (
        State.STOPPED,
        Phase.STOPPING,
        {"phase_changed_at": OVERDUE, "last_error": STOP_REPORTED},
        "complete",
        None,
    ),
    "stop within its deadline": (State.STOPPED, Phase.STOPPING, {}, "complete", None),
    "start within its deadline": (State.RUNNING, Phase.STARTING, {}, "progressing", None),
    "rollout complete": (State.RUNNING, Phase.STARTING, {}, "complete", None),
}


@pytest.mark.parametrize(
    ("state", "phase", "changes", "cluster", "timed_out"),
    TIMED_OUT_ROWS.values(),
    ids=TIMED_OUT_ROWS.keys(),
)
def test_a_step_names_the_deadline_that_passed(
    state: State, phase: Phase, changes: dict[str, Any], cluster: str, timed_out: str | None
) -> None:
    gw = gateway(state, phase, **changes)
    step = next_step(gw, observed(gw, cluster), NOW, CONFIG)
    assert step.timed_out == timed_out
    if timed_out is not None:
        assert step.commit is not None and step.commit.last_error is not None
        assert step.commit.last_error.reason == step.payload["reason"] == timed_out


def test_the_ingress_no_longer_wanted_counts_as_drift() -> None:
    with_host = gateway(State.RUNNING, Phase.STARTED, host="edge.example.com")
    without = gateway(State.RUNNING, Phase.STARTED)
    step = next_step(without, observed(with_host, "complete"), NOW, CONFIG)
    assert step.action is Action.APPLY and step.event is E.DRIFT_REPAIRED
    assert step.payload["kinds"] == ["Ingress"]


def test_a_temporary_failure_backs_off_quietly_and_a_permanent_one_reports_once() -> None:
    gw = gateway(State.RUNNING, Phase.CREATED)
    first = failed_step(
        gw,
        reason="ClusterUnavailable",
        message="503",
        permanent=False,
        now=NOW,
        delay=lambda n: 2.0**n,
    )
    assert first.event is None and first.commit is not None
    assert first.commit.retry == Retry(attempts=1, next_at=NOW + timedelta(seconds=2))

    rejected = failed_step(
        first.commit,
        reason="ClusterRejected",
        message="422",
        permanent=True,
        now=NOW,
        delay=lambda n: 2.0**n,
    )
    assert rejected.event is E.FAILED and rejected.commit is not None
    assert rejected.timed_out is None  # a failure, not a deadline
    assert rejected.commit.retry is not None and rejected.commit.retry.attempts == 2
    again = failed_step(
        rejected.commit,
        reason="ClusterRejected",
        message="422",
        permanent=True,
        now=NOW + timedelta(seconds=9),
        delay=lambda n: 2.0**n,
    )
    assert again.event is None  # the same error again: no second report
    assert again.commit is not None and again.commit.last_error is not None
    assert again.commit.last_error.at == NOW  # since when it has been failing


def test_a_failing_delete_keeps_an_overdue_teardown_shown_and_reports_nothing_more() -> None:
    overdue = LastError(reason="StopTimeout", message="objects still present", at=NOW)
    gw = gateway(State.STOPPED, Phase.STOPPING, last_error=overdue)
    step = failed_step(
        gw,
        reason="ClusterUnavailable",
        message="503",
        permanent=False,
        now=NOW,
        delay=lambda n: 4.0,
    )
    assert step.event is None and step.commit is not None
    assert step.commit.last_error == overdue
    assert step.commit.retry == Retry(attempts=1, next_at=NOW + timedelta(seconds=4))


# -- the start deadline -----------------------------------------------------------------------
# DESIGN.md's rows for a start that cannot finish: the clock is `start_requested_at` (the
# writer's request), the deadline is checked before any apply, and whatever blocks the start
# (a foreign object, a rejected or failing apply, a rollout that never completes) is named.

PAST = NOW - timedelta(seconds=301)  # asked for more than the 300 s start timeout ago
REJECTED = LastError(reason="ClusterRejected", message="422 spec.replicas invalid", at=PAST)
UNAVAILABLE = LastError(reason="ClusterUnavailable", message="503 from the API server", at=PAST)


def seen(gw: Gateway, *, ours: tuple[str, ...], foreign: tuple[str, ...] = ()) -> Observed:
    """Some of our objects (rolling out, never complete) and kinds held by another owner."""
    objects = observed(gw, "progressing").owned
    return Observed(owned={kind: objects[kind] for kind in ours}, foreign=frozenset(foreign))


DEADLINE_ROWS = {
    "Created, foreign Deployment, nothing applied: straight to Stopped": (
        State.RUNNING,
        Phase.CREATED,
        {"start_requested_at": PAST, "applied_spec_version": 0},
        {"ours": (), "foreign": ("Deployment",)},
        (State.STOPPED, Phase.STOPPED, E.START_TIMED_OUT, "StartTimeout"),
        "Deployment edge-gateway is held by another owner",
    ),
    "Created, apply rejected, nothing applied: straight to Stopped": (
        State.RUNNING,
        Phase.CREATED,
        {"start_requested_at": PAST, "last_error": REJECTED},
        {"ours": ()},
        (State.STOPPED, Phase.STOPPED, E.START_TIMED_OUT, "StartTimeout"),
        "ClusterRejected: 422 spec.replicas invalid",
    ),
    "Created, apply failing for a while, nothing applied: straight to Stopped": (
        State.RUNNING,
        Phase.CREATED,
        {"start_requested_at": PAST, "last_error": UNAVAILABLE},
        {"ours": ()},
        (State.STOPPED, Phase.STOPPED, E.START_TIMED_OUT, "StartTimeout"),
        "ClusterUnavailable: 503 from the API server",
    ),
    "Created, part applied before a foreign Service: torn down": (
        State.RUNNING,
        Phase.CREATED,
        {"start_requested_at": PAST},
        {"ours": ("Deployment",), "foreign": ("Service",)},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "Service edge-gateway is held by another owner",
    ),
    "Stopped, start asked, apply rejected: back to Stopped": (
        State.RUNNING,
        Phase.STOPPED,
        {"start_requested_at": PAST, "last_error": REJECTED, "ever_started": True},
        {"ours": ()},
        (State.STOPPED, Phase.STOPPED, E.START_TIMED_OUT, "StartTimeout"),
        "ClusterRejected",
    ),
    "Starting, first start, a foreign Deployment took the name": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST},
        {"ours": ("Service",), "foreign": ("Deployment",)},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "Deployment edge-gateway is held by another owner",
    ),
    "Starting, first start, objects gone and re-applies failing": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST, "last_error": UNAVAILABLE},
        {"ours": ()},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "ClusterUnavailable: 503 from the API server",
    ),
    "Starting, first start, an object gone": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST},
        {"ours": ("Deployment",)},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "Service edge-gateway is missing",
    ),
    "Starting, first start, a newer spec that could not be applied": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST, "spec_version": 2, "last_error": REJECTED},
        {"ours": ("Deployment", "Service", "NetworkPolicy")},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "ClusterRejected: 422",
    ),
    "Starting, first start, rollout never completes": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST},
        {"ours": ("Deployment", "Service", "NetworkPolicy")},
        (State.STOPPED, Phase.STOPPING, E.START_TIMED_OUT, "StartTimeout"),
        "0 out of 1 new replicas have been updated",
    ),
    "Starting, later rollout, a foreign Deployment took the name": (
        State.RUNNING,
        Phase.STARTING,
        {"start_requested_at": PAST, "ever_started": True},
        {"ours": ("Service",), "foreign": ("Deployment",)},
        (State.RUNNING, Phase.STARTED, E.FAILED, "RolloutTimeout"),
        "Deployment edge-gateway is held by another owner",
    ),
    "Starting, later rollout, a newer spec that could not be applied": (
        State.RESTARTING,
        Phase.STARTING,
        {
            "start_requested_at": PAST,
            "ever_started": True,
            "spec_version": 2,
            "last_error": REJECTED,
        },
        {"ours": ("Deployment", "Service", "NetworkPolicy")},
        (State.RUNNING, Phase.STARTED, E.FAILED, "RolloutTimeout"),
        "ClusterRejected: 422",
    ),
    "Started, restart asked, its apply never went through": (
        State.RESTARTING,
        Phase.STARTED,
        {
            "start_requested_at": PAST,
            "ever_started": True,
            "restart_stamp": 4,
            "last_error": REJECTED,
        },
        {"ours": ("Deployment", "Service", "NetworkPolicy")},
        (State.RUNNING, Phase.STARTED, E.FAILED, "RolloutTimeout"),
        "ClusterRejected: 422",
    ),
}


@pytest.mark.parametrize(
    ("state", "phase", "changes", "cluster", "after", "blocker"),
    DEADLINE_ROWS.values(),
    ids=DEADLINE_ROWS.keys(),
)
def test_a_start_ends_by_its_deadline_whatever_blocks_it(
    state: State,
    phase: Phase,
    changes: dict[str, Any],
    cluster: dict[str, tuple[str, ...]],
    after: tuple[State, Phase, E, str],
    blocker: str,
) -> None:
    gw = gateway(state, phase, **changes)
    step = next_step(gw, seen(gw, **cluster), NOW, CONFIG)

    # Nothing more is applied: the step only records the end, and a teardown (if any) follows.
    assert step.action is Action.NONE
    assert step.commit is not None and step.commit.last_error is not None
    state_after, phase_after, event, reason = after
    assert (step.commit.state, step.commit.phase, step.event) == (state_after, phase_after, event)
    assert (step.commit.last_error.reason, step.payload["reason"]) == (reason, reason)
    assert step.timed_out == reason
    assert blocker in step.commit.last_error.message == step.payload["message"]
    assert step.commit.retry is None
    # The timeout clock moves with the phase, and only with it.
    assert (step.commit.phase_changed_at == NOW) == (step.commit.phase != gw.phase)


def test_a_later_rollout_that_timed_out_rests_and_leaves_the_rest_to_the_drift_check() -> None:
    gw = gateway(
        State.RESTARTING,
        Phase.STARTING,
        start_requested_at=PAST,
        ever_started=True,
        spec_version=2,
        restart_stamp=4,
    )
    step = next_step(gw, seen(gw, ours=("Deployment", "Service", "NetworkPolicy")), NOW, CONFIG)
    assert step.commit is not None and step.commit.at_rest


def test_the_start_clock_is_the_request_not_the_phase_change() -> None:
    # Entered Starting just now, but asked for long ago: the start is over.
    late = gateway(State.RUNNING, Phase.STARTING, phase_changed_at=NOW, start_requested_at=PAST)
    assert next_step(late, observed(late, "progressing"), NOW, CONFIG).event is E.START_TIMED_OUT
    # In Starting for long, but a spec update asked again a moment ago: the newer spec applies.
    asked_again = gateway(
        State.RUNNING,
        Phase.STARTING,
        phase_changed_at=PAST,
        start_requested_at=NOW - timedelta(seconds=5),
        spec_version=2,
    )
    step = next_step(asked_again, observed(asked_again, "progressing"), NOW, CONFIG)
    assert (step.action, step.event) == (Action.APPLY, None)


@pytest.mark.parametrize(
    ("phase", "changes"),
    [
        (Phase.CREATED, {}),
        (Phase.STARTING, {"spec_version": 2}),
        (Phase.STARTED, {"spec_version": 2}),
    ],
)
def test_before_the_deadline_a_blocked_start_keeps_applying(
    phase: Phase, changes: dict[str, Any]
) -> None:
    gw = gateway(
        State.RUNNING,
        phase,
        start_requested_at=NOW - timedelta(seconds=299),
        last_error=REJECTED,
        **changes,
    )
    step = next_step(gw, seen(gw, ours=(), foreign=("Deployment",)), NOW, CONFIG)
    assert step.action is Action.APPLY


def test_a_rollout_that_completes_late_still_counts_as_started() -> None:
    gw = gateway(State.RUNNING, Phase.STARTING, start_requested_at=PAST)
    step = next_step(gw, observed(gw, "complete"), NOW, CONFIG)
    assert step.event is E.STARTED


def test_a_retry_while_starting_is_never_scheduled_past_the_start_deadline() -> None:
    asked = NOW - timedelta(seconds=290)  # the deadline is 10 s away
    for phase in (Phase.CREATED, Phase.STARTING):
        gw = gateway(State.RUNNING, phase, start_requested_at=asked)
        step = failed_step(
            gw,
            reason="ClusterUnavailable",
            message="503",
            permanent=False,
            now=NOW,
            delay=lambda n: 64.0,
            start_timeout=300,
        )
        assert step.commit is not None
        assert step.commit.retry == Retry(attempts=1, next_at=NOW + timedelta(seconds=10))

    # Past the deadline the next look ends the start without touching the cluster; a failure
    # then (the cluster cannot even be read) keeps its back-off rather than retry every sweep.
    overdue = gateway(State.RUNNING, Phase.CREATED, start_requested_at=PAST)
    step = failed_step(
        overdue,
        reason="ClusterUnavailable",
        message="503",
        permanent=False,
        now=NOW,
        delay=lambda n: 64.0,
        start_timeout=300,
    )
    assert step.commit is not None
    assert step.commit.retry == Retry(attempts=1, next_at=NOW + timedelta(seconds=64))


@pytest.mark.parametrize(
    ("state", "phase"),
    [(State.RUNNING, Phase.STARTED), (State.STOPPED, Phase.STOPPING)],
    ids=["drift repair", "teardown"],
)
def test_a_retry_outside_a_start_keeps_its_full_back_off(state: State, phase: Phase) -> None:
    gw = gateway(state, phase, start_requested_at=PAST)
    step = failed_step(
        gw,
        reason="ClusterUnavailable",
        message="503",
        permanent=False,
        now=NOW,
        delay=lambda n: 64.0,
        start_timeout=300,
    )
    assert step.commit is not None
    assert step.commit.retry == Retry(attempts=1, next_at=NOW + timedelta(seconds=64))
