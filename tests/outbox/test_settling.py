"""The wait rule: pending while the provisioner has work left, then met or settled elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outbox.domain.model import LastError, Phase, State
from outbox.domain.settling import Target, Verdict, intended_phase, judge, target_of
from tests.support.gateways import make_gateway

AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def started(**changes):
    values = {"phase": Phase.STARTED, "applied_spec_version": 1, **changes}
    return make_gateway().evolve(**values)


def test_a_start_in_progress_is_pending():
    assert judge(make_gateway(), Target(Phase.STARTED, 2)) is Verdict.PENDING


def test_a_completed_start_meets_a_started_target():
    assert judge(started(), Target(Phase.STARTED, 2)) is Verdict.MET


def test_an_older_version_at_rest_is_still_pending():
    # Started at version 2, but the wait is for the change that wrote version 3.
    assert judge(started(), Target(Phase.STARTED, 3)) is Verdict.PENDING


def test_a_later_version_at_rest_settles_the_wait():
    stopped = started(state=State.STOPPED, phase=Phase.STOPPED, version=5)
    assert judge(stopped, Target(Phase.STARTED, 3)) is Verdict.ELSEWHERE
    assert judge(stopped, Target(Phase.STOPPED, 3)) is Verdict.MET


def test_a_first_start_degraded_by_its_timeout_settled_elsewhere():
    error = LastError(reason="StartTimeout", message="no rollout", at=AT)
    degraded = make_gateway().evolve(state=State.STOPPED, phase=Phase.STOPPED, last_error=error)
    assert judge(degraded, Target(Phase.STARTED, 2)) is Verdict.ELSEWHERE


def test_a_rollout_given_up_is_started_but_not_as_asked():
    error = LastError(reason="RolloutTimeout", message="old pods serve", at=AT)
    assert judge(started(last_error=error), Target(Phase.STARTED, 2)) is Verdict.ELSEWHERE


def test_a_retried_failure_is_still_pending():
    error = LastError(reason="ApplyFailed", message="conflict", at=AT)
    assert judge(make_gateway().evolve(last_error=error), Target(Phase.STARTED)) is Verdict.PENDING


def test_a_stop_requested_but_not_carried_out_is_pending():
    stopping = started(state=State.STOPPED, version=3)
    assert judge(stopping, Target(Phase.STOPPED, 3)) is Verdict.PENDING


def test_a_restart_is_pending_until_its_stamp_is_applied():
    restarting = started(state=State.RESTARTING, restart_stamp=3, version=3)
    assert judge(restarting, Target(Phase.STARTED, 3)) is Verdict.PENDING
    done = restarting.evolve(state=State.RUNNING, applied_restart_stamp=3, version=5)
    assert judge(done, Target(Phase.STARTED, 3)) is Verdict.MET


def test_a_gateway_gone_meets_only_a_deleted_target():
    assert judge(None, Target(Phase.DELETED, 9)) is Verdict.MET
    assert judge(None, Target(Phase.STARTED)) is Verdict.ELSEWHERE


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        (State.RUNNING, Phase.STARTED),
        (State.RESTARTING, Phase.STARTED),
        (State.STOPPED, Phase.STOPPED),
        (State.DELETED, Phase.DELETED),
    ],
)
def test_the_target_of_a_write_follows_its_intent(state, phase):
    gateway = make_gateway().evolve(state=state, version=7)
    assert intended_phase(gateway) is phase
    assert target_of(gateway) == Target(phase, 7)
