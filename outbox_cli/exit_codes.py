"""The exit code of each error family: the command line's contract (README, "Exit codes").

The core's errors know nothing of processes; this table maps them, the most specific class
first along the error's MRO, so a subclass may have a code of its own (a cluster's missing
configuration is bad input, its other temporary failures an unreachable backend).
"""

from __future__ import annotations

from outbox.coordination.repartitioning import RepartitionRefused
from outbox.domain.errors import (
    BackendUnavailable,
    Conflict,
    DuplicateEventVersions,
    InvalidInput,
    NotFound,
    NotInitialised,
    OutboxError,
    TransitionRefused,
)
from outbox.views.waiting import SettledElsewhere, WaitTimedOut
from outbox_cli.app import USAGE_EXIT as USAGE
from provisioner.cluster.port import ClusterConfigError, TemporaryClusterError
from relay.errors import BehindMark

UNEXPECTED = 1
REFUSED = 3
CONFLICT = 4
NOT_FOUND = 5
UNREACHABLE = 6
SETTLED_ELSEWHERE = 7
TIMED_OUT = 8

CODES: dict[type[BaseException], int] = {
    OutboxError: UNEXPECTED,
    InvalidInput: USAGE,
    NotInitialised: USAGE,
    ClusterConfigError: USAGE,
    TransitionRefused: REFUSED,
    DuplicateEventVersions: REFUSED,
    RepartitionRefused: REFUSED,
    BehindMark: REFUSED,
    Conflict: CONFLICT,
    NotFound: NOT_FOUND,
    BackendUnavailable: UNREACHABLE,
    TemporaryClusterError: UNREACHABLE,
    SettledElsewhere: SETTLED_ELSEWHERE,
    WaitTimedOut: TIMED_OUT,
}


def exit_code(error: OutboxError) -> int:
    """The code the process ends with when `error` stops a command."""
    for klass in type(error).__mro__:
        if klass in CODES:
            return CODES[klass]
    return UNEXPECTED
