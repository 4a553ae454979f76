"""Rollout status of a Deployment, by the logic of `kubectl rollout status`. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from provisioner.cluster import Manifest


class RolloutState(StrEnum):
    COMPLETE = "complete"
    PROGRESSING = "progressing"
    FAILED = "failed"


@dataclass(frozen=True)
class RolloutStatus:
    state: RolloutState
    message: str


def rollout_status(deployment: Manifest | None) -> RolloutStatus:
    if deployment is None:
        return RolloutStatus(RolloutState.PROGRESSING, "the Deployment does not exist yet")
    metadata: dict[str, Any] = deployment.get("metadata") or {}
    status: dict[str, Any] = deployment.get("status") or {}
    if int(metadata.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus(
            RolloutState.PROGRESSING, "waiting for the controller to see the new spec"
        )
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "Progressing"
            and condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            message = condition.get("message") or "progress deadline exceeded"
            return RolloutStatus(RolloutState.FAILED, message)
    waiting = _waiting_for(deployment.get("spec") or {}, status)
    if waiting is not None:
        return RolloutStatus(RolloutState.PROGRESSING, waiting)
    return RolloutStatus(
        RolloutState.COMPLETE, f"{status.get('availableReplicas', 0)} replicas available"
    )


def _waiting_for(spec: dict[str, Any], status: dict[str, Any]) -> str | None:
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return f"{updated} of {desired} new replicas updated"
    if total > updated:
        return f"{total - updated} old replicas pending termination"
    if available < updated:
        return f"{available} of {updated} updated replicas available"
    return None
