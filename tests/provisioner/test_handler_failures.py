"""A handler failure is one ERROR line with its kind and the gateway id; the traceback goes to
DEBUG, unless the failure is unexpected (a bug), which keeps its traceback at ERROR."""

from __future__ import annotations

import logging

import pytest

from outbox.domain.errors import BackendUnavailable
from provisioner.pool import KeyedPool


def failures(handle_error: Exception, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.DEBUG, logger="provisioner.pool")

    def handle(key: str) -> None:
        raise handle_error

    pool = KeyedPool(workers=1, handle=handle)
    pool.submit("gw_1")
    assert pool.wait_idle(10)
    pool.shutdown(1)
    return [r for r in caplog.records if r.name == "provisioner.pool"]


def test_an_expected_failure_is_one_error_line_and_its_traceback_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = failures(BackendUnavailable("MongoDB at db is unreachable"), caplog)

    errors = [r for r in records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [
        "handling gw_1 failed: BackendUnavailable: MongoDB at db is unreachable"
    ]
    assert errors[0].levelno == logging.ERROR and errors[0].exc_info is None
    assert (errors[0].gateway_id, errors[0].error_kind) == ("gw_1", "BackendUnavailable")  # type: ignore[attr-defined]
    assert [r.levelno for r in records if r.exc_info] == [logging.DEBUG]


def test_an_unexpected_failure_keeps_its_traceback_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = failures(ValueError("a bug"), caplog)

    (error,) = [r for r in records if r.levelno >= logging.WARNING]
    assert error.levelno == logging.ERROR and error.exc_info is not None
    assert error.error_kind == "ValueError"  # type: ignore[attr-defined]
