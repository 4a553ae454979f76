"""Blocking on gateways: until they settle (`gateway wait`, `--wait`), or until they change
(`--watch`). The rule of what "settled" means is `outbox/domain/settling.py`; this module brings
it the reads and the waiting, so that the command line and an HTTP API's long poll share both.

Every change of a gateway commits an outbox event with it, so an insert into the outbox is the
signal that something may have changed: seen through a change stream where the store has one,
found by polling otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from outbox.domain.errors import BackendUnavailable, OutboxError
from outbox.domain.model import Gateway
from outbox.domain.settling import Target, Verdict, judge
from outbox.store.port import OUTBOX, Inserts, Store
from outbox.store.repository import UnitOfWork

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2  # seconds between reads where no change stream tells of changes (as the relay)
RECHECK = 2.0  # with a change stream, read again at least this often (a missed or lost signal)


class SettledElsewhere(OutboxError):
    """A gateway came to rest, but not as asked (a start degraded by its timeout, say)."""


class WaitTimedOut(OutboxError):
    """The timeout passed before every gateway came to rest."""


class Changes:
    """Wakes its caller when gateways may have changed; open it before the first read.

    `wait(seconds)` returns after an insert into the outbox or after `seconds`, whichever is
    first; without a change stream, after one poll interval. It never raises for a broken watch:
    it falls back to polling until the watch opens again.
    """

    def __init__(
        self,
        store: Store,
        *,
        poll_interval: float = POLL_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._watch = store.watch_inserts(OUTBOX)
        self._poll_interval = poll_interval
        self._sleep = sleep
        self._monotonic = monotonic
        self._inserts: Inserts | None = None
        self._open()

    def _open(self) -> None:
        if self._watch is None or self._inserts is not None:
            return
        try:
            self._inserts = self._watch.open()
        except BackendUnavailable as error:
            log.debug("no change stream for now, polling: %s", error)

    def wait(self, seconds: float) -> None:
        self._open()
        if self._inserts is None:
            self._sleep(max(0.0, min(seconds, self._poll_interval)))
            return
        deadline = self._monotonic() + seconds
        try:
            while not self._inserts.next() and self._monotonic() < deadline:
                pass
        except BackendUnavailable as error:
            log.debug("change stream broke, polling until it reopens: %s", error)
            self.close()
            self._sleep(max(0.0, min(seconds, self._poll_interval)))

    def close(self) -> None:
        if self._inserts is not None:
            self._inserts.close()
            self._inserts = None

    def __enter__(self) -> Changes:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Settled:
    """Where one gateway stands at the end of a wait (`gateway` None: it no longer exists)."""

    gateway_id: str
    target: Target
    verdict: Verdict
    gateway: Gateway | None


def judge_all(store: Store, targets: Mapping[str, Target]) -> list[Settled]:
    """One read of each gateway, judged against its target."""
    gateways = UnitOfWork(store).gateways
    results = []
    for gateway_id, target in targets.items():
        gateway = gateways.get(gateway_id)
        results.append(Settled(gateway_id, target, judge(gateway, target), gateway))
    return results


def wait_until_settled(
    store: Store,
    targets: Mapping[str, Target],
    *,
    timeout: float,
    changes: Changes | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Settled]:
    """Block until no gateway is pending or `timeout` seconds passed; the last verdicts.

    `targets` maps gateway ids to what each should settle as. Read once more at the end, so
    that a gateway settling in the last moment is not reported as timed out.
    """
    deadline = monotonic() + timeout
    owned = changes is None
    changes = changes or Changes(store, monotonic=monotonic)
    try:
        while True:
            results = judge_all(store, targets)
            remaining = deadline - monotonic()
            if remaining <= 0 or all(r.verdict is not Verdict.PENDING for r in results):
                return results
            changes.wait(min(remaining, RECHECK))
    finally:
        if owned:
            changes.close()


def outcome_error(results: Sequence[Settled]) -> OutboxError | None:
    """None when every gateway settled as asked; else the error that says which did not."""
    pending = [r for r in results if r.verdict is Verdict.PENDING]
    if pending:
        return WaitTimedOut("timed out waiting for " + ", ".join(_described(r) for r in pending))
    elsewhere = [r for r in results if r.verdict is Verdict.ELSEWHERE]
    if elsewhere:
        return SettledElsewhere("; ".join(_described(r) for r in elsewhere))
    return None


def _described(result: Settled) -> str:
    gateway = result.gateway
    if gateway is None:
        return f"{result.gateway_id} no longer exists (wanted {result.target.phase})"
    where = f"{gateway.name} is {gateway.phase} (state {gateway.state})"
    if result.verdict is Verdict.PENDING:
        return f"{where}, wanted {result.target.phase}"
    error = gateway.last_error
    reason = "" if error is None else f", last error {error.reason}: {error.message}"
    return f"{where}, not {result.target.phase}{reason}"
