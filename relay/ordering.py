"""Per-gateway order, decided without I/O.

A batch comes in commit order. Event (g, v) may be published only when gateway g has no lower
unpublished version: not outside the batch (cut off by the batch limit, parked, or committed with
a skewed clock), and inside the batch it goes after g's lower versions. Lower versions that are
missing from the batch but not parked are fetched into it (`predecessors`), so a batch full of
held events cannot stall the relay.

Asking the outbox what is unpublished below a batch costs a scan of the backlog on servers
without compound indexes; `unproven` says for which gateways the batch alone already answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def aggregate_id(self) -> str: ...

    @property
    def version(self) -> int: ...


E = TypeVar("E", bound=Versioned)


@dataclass(frozen=True)
class Row:
    """An unpublished event as the ordering check sees it."""

    id: str
    aggregate_id: str
    version: int
    parked: bool = False


@dataclass(frozen=True)
class Plan(Generic[E]):
    publish: list[E]  # in the order they must reach the stream
    held: list[E]  # wait for a lower version of their gateway


def plan(batch: Sequence[E], lowest_outside: Mapping[str, int]) -> Plan[E]:
    """Split a batch into what may go now, in order, and what must wait.

    `lowest_outside[g]` is g's lowest unpublished version that is not in the batch.
    """
    allowed = [e for e in batch if e.version < lowest_outside.get(e.aggregate_id, _INFINITY)]
    held = [e for e in batch if e.version >= lowest_outside.get(e.aggregate_id, _INFINITY)]
    return Plan(publish=_in_version_order(allowed), held=held)


def lowest_outside(batch: Iterable[Versioned], unpublished: Iterable[Row]) -> dict[str, int]:
    """Each gateway's lowest unpublished version among the events that are not in the batch."""
    inside = {event.id for event in batch}
    lowest: dict[str, int] = {}
    for row in unpublished:
        if row.id not in inside and row.version < lowest.get(row.aggregate_id, _INFINITY):
            lowest[row.aggregate_id] = row.version
    return lowest


def unproven(batch: Iterable[Versioned], settled: Mapping[str, int]) -> set[str]:
    """The batch's gateways whose order the outbox must be asked about.

    `settled[g]` is a version at or below which nothing of g can still need to go first (0 when
    nothing is known; versions start at 1). A gateway's batch versions that run without a gap
    from just above it prove that nothing is missing below any of them: every version in that
    run is in the batch, and the unique (gateway, version) index allows no second event with
    one of them outside it. A gap, a version twice, or one at or below `settled[g]` proves
    nothing.
    """
    versions: dict[str, list[int]] = defaultdict(list)
    for event in batch:
        versions[event.aggregate_id].append(event.version)
    unproven = set()
    for gateway, seen in versions.items():
        start = settled.get(gateway, 0) + 1
        if sorted(seen) != list(range(start, start + len(seen))):
            unproven.add(gateway)
    return unproven


def settle(settled: dict[str, int], reached: Iterable[Versioned]) -> None:
    """Record the versions that reached the stream and were marked published (each gateway's
    are a prefix of its unpublished versions: nothing lower was left behind)."""
    for event in reached:
        if event.version > settled.get(event.aggregate_id, 0):
            settled[event.aggregate_id] = event.version


def predecessors(batch: Sequence[Versioned], unpublished: Iterable[Row], limit: int) -> list[str]:
    """Ids of unparked events outside the batch that some batch event of the same gateway must
    wait for, lowest versions first, at most `limit`. Only those below a gateway's lowest parked
    version: what is above it waits for the operator anyway."""
    highest: dict[str, int] = {}
    for event in batch:
        highest[event.aggregate_id] = max(event.version, highest.get(event.aggregate_id, 0))
    inside = {event.id for event in batch}
    rows = [
        r for r in unpublished if r.id not in inside and r.version < highest.get(r.aggregate_id, 0)
    ]
    barrier: dict[str, int] = {}
    for row in rows:
        if row.parked and row.version < barrier.get(row.aggregate_id, _INFINITY):
            barrier[row.aggregate_id] = row.version
    wanted = sorted(
        (r for r in rows if r.version < barrier.get(r.aggregate_id, _INFINITY)),
        key=lambda r: r.version,
    )
    return [r.id for r in wanted[:limit]]


def _in_version_order(events: Sequence[E]) -> list[E]:
    """Keep each gateway's slots in commit order, filled with its versions ascending.

    Commit order across gateways is preserved; one gateway's events whose commit timestamps
    disagree with their versions (clocks of different writers) are put back in version order.
    """
    by_gateway: dict[str, list[E]] = defaultdict(list)
    for event in events:
        by_gateway[event.aggregate_id].append(event)
    queues = {
        gateway: iter(sorted(group, key=lambda e: e.version))
        for gateway, group in by_gateway.items()
    }
    return [next(queues[event.aggregate_id]) for event in events]


_INFINITY = 2**63
