"""Typed errors of the product.

Every refusal the writer, the stores or the daemons can report is one of these; adapters translate
library exceptions into them. They carry no exit codes: the command line maps each family to
one (`outbox_cli/exit_codes.py`), and the HTTP API to a status.
"""

from __future__ import annotations


class OutboxError(Exception):
    """Base of every error this product raises on purpose."""


class InvalidInput(OutboxError):
    """A value supplied by the caller is not acceptable; nothing was written."""


class TransitionRefused(OutboxError):
    """The gateway's current state and phase do not allow the requested change."""

    def __init__(self, action: str, state: str, phase: str, allowed: str) -> None:
        self.action, self.state, self.phase, self.allowed = action, state, phase, allowed
        super().__init__(
            f"cannot {action}: gateway is state {state}, phase {phase}; "
            f"{action} is allowed when {allowed}"
        )


class Conflict(OutboxError):
    """Somebody else got there first (version mismatch, name or host in use, lease held)."""


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


class BackendUnavailable(OutboxError):
    """MongoDB, Redis or the cluster cannot be reached; safe to retry later."""


class CommitOutcomeUnknown(BackendUnavailable):
    """The commit itself failed without a verdict: the write may or may not have committed.

    Retrying blindly could apply an intent twice, so the caller is told to look first.
    """

    def __init__(self, cause: str, *, check: str = "check the data before retrying") -> None:
        self.cause, self.check = cause, check
        super().__init__(f"{cause}; the write may or may not have committed; {check}")

    def checked_with(self, check: str) -> CommitOutcomeUnknown:
        """The same failure, telling the user how to look (the store does not know the name)."""
        return CommitOutcomeUnknown(self.cause, check=check)


class NotInitialised(OutboxError):
    """The database lacks the indexes `outbox init` creates; nothing was written."""


class DuplicateEventVersions(OutboxError):
    """Several outbox events of one gateway share a version; `outbox init` changed nothing.

    `duplicates` holds (gateway id, version, event ids) for each shared version.
    """

    def __init__(self, duplicates: list[tuple[object, object, list[str]]]) -> None:
        self.duplicates = duplicates
        super().__init__(
            f"{len(duplicates)} outbox version(s) are held by more than one event, so the "
            "unique (aggregate_id, version) index cannot be built; nothing was changed. "
            "Remove or renumber the extra events, then run `outbox init` again"
        )


class EventVersionTaken(StaleWrite):
    """The outbox already holds an event of this gateway at the version being written.

    Usually a concurrent writer that won the race (retried like a lost compare-and-set); if it
    persists, the outbox disagrees with the gateway's version.
    """
