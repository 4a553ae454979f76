"""The exit code of each error family: the command line's contract (README, "Exit codes").

The core's errors know nothing of processes; this table maps them. It names the classes by
module and name instead of importing them, so that a failing `outbox gateway get` does not load
the provisioner's or the relay's modules just to learn its code (tests check that every name
is a real error class). The most specific class along the error's MRO wins, so a subclass may
have a code of its own (a cluster's missing configuration is bad input, its other temporary
failures an unreachable backend).
"""

from __future__ import annotations

from outbox_cli.app import USAGE_EXIT as USAGE

UNEXPECTED = 1
REFUSED = 3
CONFLICT = 4
NOT_FOUND = 5
UNREACHABLE = 6
SETTLED_ELSEWHERE = 7
TIMED_OUT = 8

CODES: dict[str, int] = {
    "outbox.domain.errors.OutboxError": UNEXPECTED,
    "outbox.domain.errors.InvalidInput": USAGE,
    "outbox.domain.errors.NotInitialised": USAGE,
    "provisioner.cluster.port.ClusterConfigError": USAGE,
    "outbox.domain.errors.TransitionRefused": REFUSED,
    "outbox.domain.errors.DuplicateEventVersions": REFUSED,
    "outbox.coordination.repartitioning.RepartitionRefused": REFUSED,
    "relay.errors.BehindMark": REFUSED,
    "outbox.domain.errors.Conflict": CONFLICT,
    "outbox.domain.errors.NotFound": NOT_FOUND,
    "outbox.domain.errors.BackendUnavailable": UNREACHABLE,
    "provisioner.cluster.port.TemporaryClusterError": UNREACHABLE,
    "outbox.views.waiting.SettledElsewhere": SETTLED_ELSEWHERE,
    "outbox.views.waiting.WaitTimedOut": TIMED_OUT,
}


def exit_code(error: BaseException) -> int:
    """The code the process ends with when `error` stops a command."""
    for klass in type(error).__mro__:
        code = CODES.get(f"{klass.__module__}.{klass.__qualname__}")
        if code is not None:
            return code
    return UNEXPECTED
