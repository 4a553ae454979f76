"""pymongo's errors, translated into ours. Both stores speak pymongo's exceptions underneath."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from outbox.errors import BackendUnavailable
from outbox.store import DuplicateKey


@contextmanager
def translate_duplicates() -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError as error:
        raise DuplicateKey(duplicate_field(error), str(error)) from error


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Unreachable server → BackendUnavailable; unique index → DuplicateKey."""
    try:
        yield
    except DuplicateKeyError as error:
        raise DuplicateKey(duplicate_field(error), str(error)) from error
    except ConnectionFailure as error:
        raise BackendUnavailable(
            f"MongoDB at {where} is unreachable: {_first_line(error)}"
        ) from error
    except OperationFailure:
        raise
    except PyMongoError as error:
        if error.has_error_label("TransientTransactionError"):
            raise BackendUnavailable(f"MongoDB at {where}: {_first_line(error)}") from error
        raise


def duplicate_field(error: DuplicateKeyError) -> str:
    details = error.details or {}
    pattern = details.get("keyPattern") or {}
    if pattern:
        return str(next(iter(pattern)))
    message = str(error)
    for field in ("live_name", "live_host", "_id"):
        if field in message:
            return field
    return "unknown"


def _first_line(error: Exception) -> str:
    line = str(error).split("\n", 1)[0]
    for noise in (", Timeout:", " (configured timeouts"):
        line = line.split(noise, 1)[0]
    return line[:200]
