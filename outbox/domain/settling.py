"""When a change has been carried out: the one wait rule.

`outbox gateway wait`, `--wait` on the writing commands and the HTTP API's long poll all ask the
same question of a gateway document: has the provisioner finished with the change that made
version N, and did it end where the user asked? Pure: the callers bring the reads and the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from outbox.domain.model import Gateway, Phase, State

# A gateway can rest with one of these errors without having done what was asked: a first start
# degraded to Stopped, or a rollout given up while the old pods keep serving.
_GAVE_UP = ("StartTimeout", "RolloutTimeout")


class Verdict(StrEnum):
    PENDING = "pending"  # the provisioner has work left on it
    MET = "met"  # settled in the phase asked for
    ELSEWHERE = "elsewhere"  # settled, but not as asked


@dataclass(frozen=True)
class Target:
    """The phase to settle in, for the change that wrote `version` (0: any version)."""

    phase: Phase
    version: int = 0


def intended_phase(gateway: Gateway) -> Phase:
    """The phase the user's last intent leads to."""
    match gateway.state:
        case State.STOPPED:
            return Phase.STOPPED
        case State.DELETED:
            return Phase.DELETED
    return Phase.STARTED


def target_of(gateway: Gateway) -> Target:
    """What waiting for a write that just returned `gateway` means."""
    return Target(intended_phase(gateway), gateway.version)


def judge(gateway: Gateway | None, target: Target) -> Verdict:
    """`None` is a gateway that no longer exists (expired after its deletion)."""
    if gateway is None:
        return Verdict.MET if target.phase is Phase.DELETED else Verdict.ELSEWHERE
    # Any later version at rest has carried out (or replaced) the change that wrote `version`.
    if gateway.version < target.version or not gateway.at_rest:
        return Verdict.PENDING
    gave_up = gateway.last_error is not None and gateway.last_error.reason in _GAVE_UP
    if gateway.phase is target.phase and not gave_up:
        return Verdict.MET
    return Verdict.ELSEWHERE
