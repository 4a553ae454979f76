"""`rollout_status` against the checks of `kubectl rollout status`, one row per case."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.rollout import RolloutState, rollout_status

COMPLETE, PROGRESSING, FAILED = RolloutState.COMPLETE, RolloutState.PROGRESSING, RolloutState.FAILED
DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
UPDATED = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
AVAILABLE = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}


def deployment(*, generation: int = 2, desired: int | None = 3, **status: Any) -> dict[str, Any]:
    """A Deployment of `desired` replicas (None: spec.replicas unset) with these status fields."""
    spec = {} if desired is None else {"replicas": desired}
    return {
        "metadata": {"name": "edge-gateway", "generation": generation},
        "spec": spec,
        "status": status,
    }


def done(**overrides: Any) -> dict[str, Any]:
    """Status fields of a finished rollout of 3 replicas at generation 2."""
    fields: dict[str, Any] = {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
    }
    fields.update(overrides)
    return fields


@pytest.mark.parametrize(
    ("live", "state", "message"),
    [
        pytest.param(None, PROGRESSING, "does not exist", id="no-deployment-yet"),
        pytest.param(
            deployment(**done()), COMPLETE, '"edge-gateway" successfully rolled out', id="complete"
        ),
        pytest.param(
            deployment(**done(observedGeneration=1)),
            PROGRESSING,
            "spec update to be observed",
            id="controller-has-not-seen-the-new-spec",
        ),
        pytest.param(
            deployment(**done(observedGeneration=3)), COMPLETE, "rolled out", id="observed-ahead"
        ),
        pytest.param(
            deployment(observedGeneration=2, conditions=[{**DEADLINE, "message": "too slow"}]),
            FAILED,
            "exceeded its progress deadline: too slow",
            id="progress-deadline-exceeded",
        ),
        pytest.param(
            deployment(observedGeneration=1, conditions=[DEADLINE]),
            PROGRESSING,
            "spec update to be observed",
            id="deadline-of-an-older-generation-does-not-count",
        ),
        pytest.param(
            deployment(**done(conditions=[AVAILABLE, DEADLINE])),
            FAILED,
            "progress deadline",
            id="deadline-wins-over-replica-counts",
        ),
        pytest.param(
            deployment(**done(conditions=[UPDATED, DEADLINE])),
            COMPLETE,
            "rolled out",
            id="only-the-first-progressing-condition-counts",
        ),
        pytest.param(
            deployment(**done(updatedReplicas=1, replicas=4, availableReplicas=3)),
            PROGRESSING,
            "1 out of 3 new replicas have been updated",
            id="new-replicas-being-updated",
        ),
        pytest.param(
            deployment(**done(replicas=4)),
            PROGRESSING,
            "1 old replicas are pending termination",
            id="old-replicas-pending-termination",
        ),
        pytest.param(
            deployment(**done(availableReplicas=2)),
            PROGRESSING,
            "2 of 3 updated replicas are available",
            id="updated-replicas-not-yet-available",
        ),
        pytest.param(
            deployment(observedGeneration=2),
            PROGRESSING,
            "0 out of 3 new replicas",
            id="empty-status",
        ),
        pytest.param(
            deployment(desired=None, **done()),
            COMPLETE,
            "rolled out",
            id="no-spec-replicas-skips-the-updated-check",
        ),
        pytest.param(
            deployment(desired=0, **done(replicas=0, updatedReplicas=0, availableReplicas=0)),
            COMPLETE,
            "rolled out",
            id="scaled-to-zero",
        ),
        pytest.param(
            deployment(generation=1, desired=1, observedGeneration=1, updatedReplicas=1),
            PROGRESSING,
            "0 of 1 updated replicas are available",
            id="first-pod-not-ready",
        ),
    ],
)
def test_rollout_status(live: dict[str, Any] | None, state: RolloutState, message: str) -> None:
    status = rollout_status(live)

    assert status.state is state
    assert message in status.message
    assert status.complete is (state is COMPLETE)
    assert status.failed is (state is FAILED)
