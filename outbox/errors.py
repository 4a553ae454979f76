"""Typed errors of the product.

Every refusal the writer, the stores or the daemons can report is one of these; adapters translate
library exceptions into them, and the command line maps each family to one exit code.
"""

from __future__ import annotations


class OutboxError(Exception):
    """Base of every error this product raises on purpose."""

    exit_code = 1


class InvalidInput(OutboxError):
    """A value supplied by the caller is not acceptable; nothing was written."""

    exit_code = 2


class TransitionRefused(OutboxError):
    """The gateway's current state and phase do not allow the requested change."""

    exit_code = 3

    def __init__(self, action: str, state: str, phase: str, allowed: str) -> None:
        self.action, self.state, self.phase, self.allowed = action, state, phase, allowed
        super().__init__(
            f"cannot {action}: gateway is state {state}, phase {phase}; "
            f"{action} is allowed when {allowed}"
        )


class Conflict(OutboxError):
    """Somebody else got there first (version mismatch, name or host in use, lease held)."""

    exit_code = 4


class VersionConflict(Conflict):
    """The gateway's version is not the one the caller expected."""

    def __init__(self, gateway_id: str, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(
            f"gateway {gateway_id} is at version {actual}, not the expected {expected}"
        )


class NameTaken(Conflict):
    """Another live gateway already uses the name or the host."""


class StaleWrite(Conflict):
    """A compare-and-set matched nothing: the document changed since it was read.

    Raised inside a transaction, it aborts the whole unit of work.
    """


class NotFound(OutboxError):
    """No gateway has that id or name."""

    exit_code = 5


class BackendUnavailable(OutboxError):
    """MongoDB, Redis or the cluster cannot be reached; safe to retry later."""

    exit_code = 6
