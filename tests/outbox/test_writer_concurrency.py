"""The writer under contention, in the in-memory store.

Eight threads race conflicting writes on one gateway; afterwards the books must balance: every
call either committed exactly one event or was refused with a typed error, the version counts the
commits, and the events replay the commits in version order. A compare-and-set lost to a
concurrent writer is retried from a fresh read, unless the caller asked for strict locking.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from outbox.domain.errors import StaleWrite, TransitionRefused, VersionConflict
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import Gateway, Phase, State
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS, Collection, Collections, Store, T
from outbox.store.repository import UnitOfWork
from outbox.writer import Writer
from tests.support.clock import FakeClock
from tests.support.stores import DelegatingStore

THREADS = 8
CALLS_PER_THREAD = 15
ROUNDS = 12
# Delete ends a round (nothing is allowed after it), so it is drawn rarely.
ACTIONS = ["stop", "start", "update", "restart", "delete"]
WEIGHTS = [12, 12, 12, 12, 1]
EVENT = {
    "start": EventType.START_REQUESTED,
    "stop": EventType.STOP_REQUESTED,
    "restart": EventType.RESTART_REQUESTED,
    "update": EventType.SPEC_UPDATED,
    "delete": EventType.DELETE_REQUESTED,
}
NEXT_STATE: dict[str, Callable[[State], State]] = {
    "start": lambda state: State.RUNNING,
    "stop": lambda state: State.STOPPED,
    "restart": lambda state: State.RESTARTING,
    "update": lambda state: state,
    "delete": lambda state: State.DELETED,
}


@pytest.fixture(autouse=True)
def eager_thread_switching() -> Iterator[None]:
    """Switch threads every few bytecodes, so calls interleave instead of running in turns."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def provisioner_sets(store: Store, gateway_id: str, clock: FakeClock, **changes: Any) -> Gateway:
    """A provisioner-like step: compare-and-set on version with its own event, one transaction."""

    def work(collections: Collections) -> Gateway:
        uow = UnitOfWork(collections)
        current = uow.gateways.get(gateway_id)
        assert current is not None
        changed = current.evolve(version=current.version + 1, updated_at=clock(), **changes)
        uow.gateways.replace(changed, expected_version=current.version)
        uow.events.add(
            OutboxEvent.for_gateway(
                gateway_id, EventType.STARTING, version=changed.version, at=clock()
            )
        )
        return changed

    return store.transaction(work)


# -- eight threads, one gateway ------------------------------------------------------------------


@dataclass
class Ledger:
    """What every call of a round came back with."""

    committed: list[tuple[str, Gateway]] = field(default_factory=list)
    refused: list[tuple[str, Exception]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action: str, outcome: Gateway | Exception) -> None:
        with self.lock:
            if isinstance(outcome, Gateway):
                self.committed.append((action, outcome))
            else:
                self.refused.append((action, outcome))


def race(writer: Writer, gateway_id: str, *, seed: int, strict: bool) -> Ledger:
    ledger = Ledger()
    barrier = threading.Barrier(THREADS)
    images = itertools.count()  # every update asks for a new image, so none is a no-op

    def calls(thread: int) -> None:
        rng = random.Random(seed * 100 + thread)
        barrier.wait()
        for action in rng.choices(ACTIONS, WEIGHTS, k=CALLS_PER_THREAD):
            expected = writer.get(gateway_id).version if strict else None
            try:
                if action == "update":
                    image = f"nginx:1.{next(images)}"
                    outcome: Gateway | Exception = writer.update(
                        gateway_id, image=image, expected_version=expected
                    )
                else:
                    outcome = getattr(writer, action)(gateway_id, expected_version=expected)
            except (TransitionRefused, VersionConflict) as refusal:
                outcome = refusal
            ledger.record(action, outcome)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(calls, thread) for thread in range(THREADS)]:
            future.result()  # any other exception fails the test here
    return ledger


def assert_books_balance(writer: Writer, start: Gateway, ledger: Ledger) -> None:
    committed = sorted(ledger.committed, key=lambda entry: entry[1].version)
    final = writer.get(start.id)

    # The version counts the commits, and each commit got a version of its own.
    assert final.version == start.version + len(committed)
    assert [g.version for _, g in committed] == list(range(start.version + 1, final.version + 1))
    # The events are exactly the commits, in version order: one each, nothing for a refusal.
    events = [e for e in writer.events(start.id) if e.version > start.version]
    assert [(e.type, e.version) for e in events] == [(EVENT[a], g.version) for a, g in committed]
    # Replayed in version order, each commit was allowed by the state the one before left.
    current = start
    for action, gateway in committed:
        assert gateway.state == NEXT_STATE[action](current.state), (action, current.state)
        assert gateway.phase == current.phase
        current = gateway
    assert final == current


@pytest.mark.parametrize("strict", [False, True], ids=["retrying", "expected_version"])
def test_racing_writers_commit_one_event_per_success_and_nothing_per_refusal(
    clock: FakeClock, strict: bool
) -> None:
    totals = {"committed": 0, "refused": 0, "conflicts": 0}
    for seed in range(ROUNDS):
        store = MemoryStore()
        writer = Writer(store, clock=clock)
        created = writer.create(f"edge{seed}", {"image": "nginx:1.27"}, stopped=seed % 3 == 2)
        # Rounds alternate between phases that allow start (Created/Stopped) and restart (Started).
        phase = [Phase.CREATED, Phase.STARTED, Phase.STOPPED][seed % 3]
        start = (
            created
            if phase == Phase.CREATED
            else provisioner_sets(store, created.id, clock, phase=phase)
        )

        ledger = race(writer, start.id, seed=seed, strict=strict)

        assert len(ledger.committed) + len(ledger.refused) == THREADS * CALLS_PER_THREAD
        for action, refusal in ledger.refused:
            if isinstance(refusal, TransitionRefused):
                assert refusal.action == action
            else:
                assert strict, "only a caller that gives expected_version gets a VersionConflict"
        assert_books_balance(writer, start, ledger)
        totals["committed"] += len(ledger.committed)
        totals["refused"] += len(ledger.refused)
        totals["conflicts"] += sum(isinstance(r, VersionConflict) for _, r in ledger.refused)

    # The race really happened: some calls won, some were refused, and (strict) some were stale.
    assert totals["committed"] > ROUNDS
    assert totals["refused"] > ROUNDS
    assert (totals["conflicts"] > 0) == strict


# -- a compare-and-set lost to a concurrent writer -----------------------------------------------


class Interloper:
    """Another writer, committing just before the writer's next `losses` compare-and-sets."""

    def __init__(
        self, store: Store, clock: FakeClock, losses: int, *, burst: int = 1, **changes: Any
    ) -> None:
        self.store, self.clock, self.losses, self.burst = store, clock, losses, burst
        self.changes = changes
        self.commits = 0

    def strike(self, gateway_id: str) -> None:
        if self.losses > 0:
            self.losses -= 1
            # Its own transactions, committed before the writer's compare-and-set runs: as if the
            # provisioner had written between the writer's read and its write.
            for _ in range(self.burst):
                provisioner_sets(self.store, gateway_id, self.clock, **self.changes)
                self.commits += 1


class RacedGateways:
    def __init__(self, inner: Collection, interloper: Interloper) -> None:
        self._inner = inner
        self._interloper = interloper

    def replace_one(self, filter: Any, document: Any, *, upsert: bool = False) -> int:
        self._interloper.strike(filter["_id"])
        return self._inner.replace_one(filter, document, upsert=upsert)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RacedCollections:
    def __init__(self, inner: Collections, interloper: Interloper | None) -> None:
        self._inner = inner
        self._interloper = interloper

    def collection(self, name: str) -> Collection:
        inner = self._inner.collection(name)
        if name != GATEWAYS or self._interloper is None:
            return inner
        return RacedGateways(inner, self._interloper)


class RacedStore(DelegatingStore):
    """The in-memory store, with an interloper between the writer's read and its compare-and-set.

    The interloper writes to `inner` directly, so it is not raced itself.
    """

    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.interloper: Interloper | None = None

    def transaction(self, work: Callable[[Collections], T]) -> T:
        return self.inner.transaction(lambda c: work(RacedCollections(c, self.interloper)))

    @property
    def description(self) -> str:
        return "raced " + self.inner.description


@pytest.fixture
def raced() -> RacedStore:
    return RacedStore()


def given_running(raced: RacedStore, clock: FakeClock) -> tuple[Writer, Gateway]:
    writer = Writer(raced, clock=clock)
    return writer, writer.create("edge", {"image": "nginx:1.27"})


@pytest.mark.parametrize("losses", [1, 3, 7])
def test_a_lost_compare_and_set_is_retried_from_a_fresh_read_and_commits_once(
    raced: RacedStore, clock: FakeClock, losses: int
) -> None:
    writer, _ = given_running(raced, clock)
    raced.interloper = Interloper(raced.inner, clock, losses, phase=Phase.STARTING)

    stopped = writer.stop("edge")

    assert raced.interloper.commits == losses
    assert (stopped.state, stopped.phase) == (State.STOPPED, Phase.STARTING)
    assert stopped.version == 1 + losses + 1
    events = writer.events("edge")
    assert [e.type for e in events] == [
        EventType.CREATED,
        *[EventType.STARTING] * losses,
        EventType.STOP_REQUESTED,
    ]
    assert [e.version for e in events] == list(range(1, stopped.version + 1))


def test_a_retry_re_checks_the_transition_against_what_the_other_writer_left(
    raced: RacedStore, clock: FakeClock
) -> None:
    writer, gateway = given_running(raced, clock)
    provisioner_sets(raced, gateway.id, clock, phase=Phase.STARTED)
    # The rollout times out on first start just as the user asks for a restart.
    raced.interloper = Interloper(raced.inner, clock, 1, state=State.STOPPED, phase=Phase.STOPPING)

    with pytest.raises(TransitionRefused, match="state Stopped, phase Stopping"):
        writer.restart("edge")

    assert [e.type for e in writer.events("edge")] == [EventType.CREATED] + [EventType.STARTING] * 2


def test_a_writer_that_keeps_losing_gives_up_with_stale_write_and_writes_nothing(
    raced: RacedStore, clock: FakeClock
) -> None:
    writer, _ = given_running(raced, clock)
    raced.interloper = Interloper(raced.inner, clock, 100, phase=Phase.STARTING)

    with pytest.raises(StaleWrite, match="gave up after 8 attempts"):
        writer.stop("edge")

    assert raced.interloper.commits == 8
    assert writer.get("edge").state == State.RUNNING
    assert EventType.STOP_REQUESTED not in {e.type for e in writer.events("edge")}


@pytest.mark.parametrize("burst", [1, 2])
def test_with_expected_version_a_lost_compare_and_set_is_a_conflict_not_a_retry(
    raced: RacedStore, clock: FakeClock, burst: int
) -> None:
    writer, _ = given_running(raced, clock)
    # With a burst of two commits in the gap, the conflict must report the version really stored.
    raced.interloper = Interloper(raced.inner, clock, 1, burst=burst, phase=Phase.STARTING)

    with pytest.raises(VersionConflict) as conflict:
        writer.stop("edge", expected_version=1)

    assert raced.interloper.commits == burst
    assert (conflict.value.expected, conflict.value.actual) == (1, 1 + burst)
    assert writer.get("edge").state == State.RUNNING
    assert EventType.STOP_REQUESTED not in {e.type for e in writer.events("edge")}
