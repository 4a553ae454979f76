"""Writes are bounded by OUTBOX_MONGODB_TIMEOUT, and the Python API speaks only our errors.

A write either commits or fails within the timeout (plus a little): pymongo's own retry loop
would keep a transaction going for 120 s. A failure while committing leaves the outcome unknown,
and the error says so. The servers here are private nx-27017 processes the tests stop on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import pytest
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from outbox.domain.errors import BackendUnavailable, CommitOutcomeUnknown, NotInitialised
from outbox.store.mongo.errors import commit_failure, translate_errors
from outbox.store.mongo.store import MongoStore
from outbox.store.port import GATEWAYS, OUTBOX, Collections, Store
from outbox.writer import Writer
from outbox_cli.exit_codes import exit_code  # the command line's mapping of the error
from tests.support.servers import NxServer, free_port
from tests.support.store_faults import CommitUnknownStore

TIMEOUT = 1.0
GRACE = 3.0  # what the issue allows beyond the timeout


@pytest.fixture
def private_nx() -> Iterator[NxServer]:
    """An nx-27017 of this test alone: it gets stopped while a transaction is open."""
    server = NxServer().start()
    yield server
    server.close()


@pytest.fixture
def private_store(private_nx: NxServer) -> Iterator[MongoStore]:
    store = MongoStore(private_nx.uri, database="bounded", timeout_seconds=TIMEOUT)
    store.ensure_indexes(retention_seconds=0)
    yield store
    store.close()


def timed(call: Callable[[], object]) -> tuple[BaseException, float]:
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        call()
    return raised.value, time.monotonic() - began


# -- the deadline ---------------------------------------------------------------------------------


def test_a_write_to_an_unreachable_mongodb_fails_within_the_timeout() -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    store = MongoStore(uri, timeout_seconds=TIMEOUT)

    error, seconds = timed(lambda: Writer(store).create("edge", {"image": "nginx:1.27"}))

    assert seconds < TIMEOUT + GRACE
    assert "is unreachable" in str(error) and not isinstance(error, CommitOutcomeUnknown)


def test_a_server_that_goes_away_mid_transaction_fails_the_write_within_the_timeout(
    private_nx: NxServer, private_store: MongoStore
) -> None:
    def work(collections: Collections) -> None:
        collections.collection(GATEWAYS).find_one({"_id": "gw_1"})
        private_nx.stop()  # the outage begins between two operations of the transaction
        collections.collection(GATEWAYS).insert_one({"_id": "gw_1"})

    error, seconds = timed(lambda: private_store.transaction(work))

    assert seconds < TIMEOUT + GRACE
    assert not isinstance(error, CommitOutcomeUnknown)  # it never reached the commit


def test_a_server_that_goes_away_at_commit_leaves_the_outcome_unknown(
    private_nx: NxServer, private_store: MongoStore
) -> None:
    def work(collections: Collections) -> None:
        collections.collection(GATEWAYS).find_one({"_id": "gw_1"})
        collections.collection(GATEWAYS).insert_one({"_id": "gw_1"})
        private_nx.stop()  # everything is written; only the commit is left

    error, seconds = timed(lambda: private_store.transaction(work))

    assert seconds < TIMEOUT + GRACE
    assert isinstance(error, CommitOutcomeUnknown)
    assert "may or may not have committed" in str(error)


# -- a database `outbox init` never saw ----------------------------------------------------------


def test_a_write_to_a_database_without_init_is_refused_and_writes_nothing(
    nx_server: NxServer,
) -> None:
    # On nx-27017 the transaction's first read found no collection, so it never began: the
    # writes committed one by one, and the commit then failed with "No session specified".
    store = MongoStore(nx_server.uri, database=f"fresh{uuid4().hex[:8]}", timeout_seconds=TIMEOUT)
    try:
        with pytest.raises(NotInitialised, match="run `outbox init` first"):
            Writer(store).create("edge", {"image": "nginx:1.27"})

        assert store.collection(GATEWAYS).count_documents({}) == 0
        assert store.collection(OUTBOX).count_documents({}) == 0
    finally:
        store.close()


# -- the writer names what to check --------------------------------------------------------------


def test_an_unknown_commit_outcome_tells_the_user_how_to_check(any_store: Store) -> None:
    writer = Writer(CommitUnknownStore(any_store))

    with pytest.raises(CommitOutcomeUnknown) as raised:
        writer.create("edge", {"image": "nginx:1.27"})

    assert str(raised.value) == (
        "MongoDB at mongodb://db: the commit failed: timed out; the write may or may not have "
        "committed; check with `outbox gateway get edge`"
    )
    assert exit_code(raised.value) == 6


# -- translation of driver errors (pure) ---------------------------------------------------------


def labelled(error: PyMongoError, *labels: str) -> PyMongoError:
    for label in labels:
        error._add_error_label(label)
    return error


def timed_out_after(cause: PyMongoError) -> PyMongoError:
    """What with_transaction raises when the deadline passes while it retries `cause`."""
    error = ExecutionTimeout(str(cause), 50)
    error.__cause__ = cause
    return error


UNKNOWN = "UnknownTransactionCommitResult"
TRANSIENT = "TransientTransactionError"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (labelled(AutoReconnect("reset"), UNKNOWN), "unknown"),
        (timed_out_after(labelled(NetworkTimeout("slow"), UNKNOWN)), "unknown"),
        (OperationFailure("No session specified"), "unknown"),
        (labelled(OperationFailure("WriteConflict", 112), TRANSIENT), "not committed"),
        (timed_out_after(labelled(AutoReconnect("down"), TRANSIENT)), "not committed"),
    ],
    ids=[
        "network error",
        "deadline while retrying the commit",
        "refused commit",
        "write conflict",
        "deadline while retrying the transaction",
    ],
)
def test_a_failed_commit_is_unknown_unless_the_server_said_nothing_committed(
    error: PyMongoError, outcome: str
) -> None:
    failure = commit_failure(error, "mongodb://db")

    assert isinstance(failure, BackendUnavailable)
    assert isinstance(failure, CommitOutcomeUnknown) == (outcome == "unknown")


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused"),
        ExecutionTimeout("operation exceeded time limit", 50),
        OperationFailure("not authorized on outbox", 13),
        PyMongoError("something else"),
    ],
    ids=type,
)
def test_the_python_api_never_raises_a_driver_error(error: PyMongoError) -> None:
    def fail() -> Any:
        with translate_errors("mongodb://db"):
            raise error

    with pytest.raises(BackendUnavailable, match=r"^MongoDB at mongodb://db"):
        fail()
