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
    spec: dict[str, Any] = deployment.get("spec") or {}
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
            return RolloutStatus(
                RolloutState.FAILED, condition.get("message") or "progress deadline exceeded"
            )
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < desired:
        return RolloutStatus(
            RolloutState.PROGRESSING, f"{updated} of {desired} new replicas updated"
        )
    if total > updated:
        return RolloutStatus(
            RolloutState.PROGRESSING, f"{total - updated} old replicas pending termination"
        )
    if available < updated:
        return RolloutStatus(
            RolloutState.PROGRESSING, f"{available} of {updated} updated replicas available"
        )
    return RolloutStatus(RolloutState.COMPLETE, f"{available} replicas available")
