"""pymongo's errors, translated into ours. Both stores speak pymongo's exceptions underneath."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from outbox.domain.errors import BackendUnavailable, CommitOutcomeUnknown
from outbox.store.port import DuplicateKey


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Unique index → DuplicateKey; every other driver error → BackendUnavailable.

    Callers of the store never see a pymongo exception: an unreachable server, a deadline
    passed (ExecutionTimeout) and a refused command all exit 6 on the command line.
    """
    try:
        yield
    except DuplicateKeyError as error:
        raise DuplicateKey(duplicate_field(error), str(error)) from error
    except ConnectionFailure as error:
        raise BackendUnavailable(
            f"MongoDB at {where} is unreachable: {_first_line(error)}"
        ) from error
    except OperationFailure as error:
        raise BackendUnavailable(
            f"MongoDB at {where} refused the operation: {_first_line(error)}"
        ) from error
    except PyMongoError as error:
        raise BackendUnavailable(f"MongoDB at {where}: {_first_line(error)}") from error


def commit_failure(error: PyMongoError, where: str) -> BackendUnavailable:
    """A failure after the unit of work returned, that is while committing.

    Only a TransientTransactionError (without UnknownTransactionCommitResult) says for sure that
    nothing committed; anything else — a timeout, a network error, a refused commit — leaves
    the outcome unknown. `with_transaction` wraps its last error when the deadline passes, so
    the labels of the cause count too.
    """
    cause = error.__cause__ if isinstance(error.__cause__, PyMongoError) else error
    labelled = (error, cause)
    if any(e.has_error_label("TransientTransactionError") for e in labelled) and not any(
        e.has_error_label("UnknownTransactionCommitResult") for e in labelled
    ):
        return BackendUnavailable(
            f"MongoDB at {where}: the transaction was not committed: {_first_line(error)}"
        )
    return CommitOutcomeUnknown(f"MongoDB at {where}: the commit failed: {_first_line(error)}")


def duplicate_field(error: DuplicateKeyError) -> str:
    details = error.details or {}
    pattern = details.get("keyPattern") or {}
    if pattern:
        return str(next(iter(pattern)))
    # nx-27017 gives no keyPattern, only its index name (idx_outbox_aggregate_id_version):
    # look for `_id` last, since it is part of `aggregate_id`.
    message = str(error)
    for field in ("live_name", "live_host", "aggregate_id", "_id"):
        if field in message:
            return field
    return "unknown"


def _first_line(error: Exception) -> str:
    line = str(error).split("\n", 1)[0]
    for noise in (", Timeout:", " (configured timeouts"):
        line = line.split(noise, 1)[0]
    return line[:200]
