"""Partitions: which of P partitions a gateway belongs to, and how many there are by default.

A gateway's partition is a stable hash of its id modulo P. The hash is CRC-32 of the id's UTF-8
bytes, never Python's `hash()` (salted per process): every process, every release and every
outside consumer computes the same partition. Events of one gateway live in its partition, so
order per gateway holds within the partition. Pure: no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Set
from dataclasses import dataclass

DEFAULT_PARTITIONS = 8  # what `outbox init` records when no --partitions is given
MAX_PARTITIONS = 1024  # one stream, one lease and one reader thread each: keep P modest


def partition_of(gateway_id: str, partitions: int) -> int:
    """The partition of `gateway_id` among `partitions`: CRC-32 of the id modulo P."""
    check_partitions(partitions)
    return zlib.crc32(gateway_id.encode("utf-8")) % partitions


def check_partitions(partitions: int) -> int:
    """`partitions` if it is a usable partition count, else ValueError saying what is allowed."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise ValueError(f"the partition count must be a whole number, not {partitions!r}")
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"the partition count must be between 1 and {MAX_PARTITIONS}")
    return partitions


def fair_share(partitions: int, members: int) -> int:
    """How many partitions one of `members` live replicas holds at most: ceil(P / members)."""
    return -(-partitions // max(members, 1))


@dataclass(frozen=True)
class Moves:
    """What one replica does with its leases in one turn of balancing."""

    release: tuple[int, ...] = ()  # held beyond the fair share: hand back, highest first
    take: tuple[int, ...] = ()  # free, up to the fair share: try to take, lowest first


def rebalance(partitions: int, members: int, held: Set[int], held_by_others: Set[int]) -> Moves:
    """A replica's moves towards its fair share, given what it holds and what live leases of
    others hold. A replica above its share hands back its highest partitions (a newcomer takes
    them); one below it takes free partitions, the lowest first (a dead replica's leases turn
    free when they expire)."""
    share = fair_share(partitions, members)
    if len(held) > share:
        return Moves(release=tuple(sorted(held, reverse=True)[: len(held) - share]))
    free = [n for n in range(partitions) if n not in held and n not in held_by_others]
    return Moves(take=tuple(free[: share - len(held)]))
