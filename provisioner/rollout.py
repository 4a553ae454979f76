"""Rollout status of a Deployment, by the logic of `kubectl rollout status`. Pure.

Mirrors `DeploymentStatusViewer.Status` in kubectl (k8s.io/kubectl/pkg/polymorphichelpers/
rollout_status.go) check for check, so "complete" here means what an operator's kubectl says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from provisioner.cluster.port import Manifest

PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
# The Deployment condition through which the ReplicaSet controller says it cannot create pods:
# admission refused them (Pod Security, a quota), with the API server's message.
REPLICA_FAILURE = "ReplicaFailure"


class RolloutState(StrEnum):
    COMPLETE = "complete"
    PROGRESSING = "progressing"
    FAILED = "failed"


@dataclass(frozen=True)
class RolloutStatus:
    state: RolloutState
    message: str

    @property
    def complete(self) -> bool:
        return self.state is RolloutState.COMPLETE

    @property
    def failed(self) -> bool:
        return self.state is RolloutState.FAILED


def rollout_status(deployment: Manifest | None) -> RolloutStatus:
    if deployment is None:
        return _progressing("the Deployment does not exist yet")
    metadata: dict[str, Any] = deployment.get("metadata") or {}
    spec: dict[str, Any] = deployment.get("spec") or {}
    status: dict[str, Any] = deployment.get("status") or {}
    name = metadata.get("name", "")
    # Until the controller has seen the latest spec, the rest of the status describes an older one.
    if int(metadata.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return _progressing("waiting for the deployment spec update to be observed")
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED:
        detail = progressing.get("message") or "no progress within progressDeadlineSeconds"
        return RolloutStatus(
            RolloutState.FAILED, f'deployment "{name}" exceeded its progress deadline: {detail}'
        )
    return _replica_progress(name, spec, status)


def _replica_progress(name: str, spec: dict[str, Any], status: dict[str, Any]) -> RolloutStatus:
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    # kubectl skips this check when spec.replicas is unset (the server always defaults it).
    if spec.get("replicas") is not None and updated < int(spec["replicas"]):
        return _progressing(f"{updated} out of {spec['replicas']} new replicas have been updated")
    if total > updated:
        return _progressing(f"{total - updated} old replicas are pending termination")
    if available < updated:
        return _progressing(f"{available} of {updated} updated replicas are available")
    return RolloutStatus(RolloutState.COMPLETE, f'deployment "{name}" successfully rolled out')


def _progressing(message: str) -> RolloutStatus:
    return RolloutStatus(RolloutState.PROGRESSING, message)


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    # Like deploymentutil.GetDeploymentCondition: the first condition of that type.
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def replica_failure(deployment: Manifest | None) -> str | None:
    """The API server's refusal of the Deployment's pods (`ReplicaFailure`), when it has one.

    `kubectl rollout status` ignores it and waits out the progress deadline; we report it at
    once, since no pod will ever come until the template or the namespace changes.
    """
    if deployment is None:
        return None
    status = deployment.get("status") or {}
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return None  # about an older template: the controller has not looked at this one yet
    failure = _condition(status, REPLICA_FAILURE)
    if failure is None or failure.get("status") != "True":
        return None
    return str(failure.get("message") or failure.get("reason") or "the pods could not be created")
