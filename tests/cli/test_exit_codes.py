"""The command line's mapping from the core's errors to the exit codes the README documents."""

from __future__ import annotations

import importlib

import pytest

from outbox.coordination.repartitioning import RepartitionRefused
from outbox.domain.errors import (
    BackendUnavailable,
    CommitOutcomeUnknown,
    DuplicateEventVersions,
    InvalidInput,
    NameTaken,
    NotFound,
    NotInitialised,
    OutboxError,
    StaleWrite,
    TransitionRefused,
    VersionConflict,
)
from outbox.stream.errors import Fenced, StreamUnavailable
from outbox.views.waiting import SettledElsewhere, WaitTimedOut
from outbox_cli.exit_codes import CODES, exit_code
from provisioner.cluster.port import (
    ClusterConfigError,
    ForeignObject,
    ResourceExpired,
    TemporaryClusterError,
)
from relay.errors import BehindMark

CASES = {
    "an unexpected error of ours": (OutboxError("?"), 1),
    "bad input": (InvalidInput("bad"), 2),
    "a store without its indexes": (NotInitialised("run outbox init"), 2),
    "no cluster configuration": (ClusterConfigError("no kubeconfig"), 2),
    "a refused transition": (TransitionRefused("start", "Running", "Started", "Stopped"), 3),
    "duplicate event versions": (DuplicateEventVersions([]), 3),
    "a refused repartition": (RepartitionRefused("backlog"), 3),
    "parked events behind their mark": (BehindMark("behind"), 3),
    "a version mismatch": (VersionConflict("gw_1", 2, 3), 4),
    "a name in use": (NameTaken("taken"), 4),
    "a lost compare-and-set": (StaleWrite("moved"), 4),
    "a fenced relay": (Fenced("newer token"), 4),
    "not found": (NotFound("no such gateway"), 5),
    "MongoDB unreachable": (BackendUnavailable("down"), 6),
    "Redis unreachable": (StreamUnavailable("down"), 6),
    "a commit of unknown outcome": (CommitOutcomeUnknown("reset"), 6),
    "the cluster unreachable": (TemporaryClusterError("503", status=503), 6),
    "a watch too old": (ResourceExpired("410", status=410), 6),
    "a foreign object (a permanent cluster error)": (ForeignObject("not ours"), 1),
    "settled elsewhere": (SettledElsewhere("degraded"), 7),
    "a wait that timed out": (WaitTimedOut("too slow"), 8),
}


@pytest.mark.parametrize(("error", "code"), CASES.values(), ids=CASES.keys())
def test_each_error_family_ends_the_command_with_its_code(error: OutboxError, code: int) -> None:
    assert exit_code(error) == code


def test_the_core_errors_know_nothing_of_exit_codes() -> None:
    assert not any(hasattr(type(error), "exit_code") for error, _ in CASES.values())


@pytest.mark.parametrize("name", sorted(CODES))
def test_every_name_in_the_table_is_an_error_class_of_ours(name: str) -> None:
    module, _, attribute = name.rpartition(".")
    klass = getattr(importlib.import_module(module), attribute)

    assert isinstance(klass, type) and issubclass(klass, OutboxError)
