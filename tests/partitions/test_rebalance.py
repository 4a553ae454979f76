"""The pure balancing rule: towards ceil(P / live replicas), handing back the highest partitions
and taking the lowest free ones."""

from __future__ import annotations

import pytest

from outbox.domain.partitions import Moves, rebalance


@pytest.mark.parametrize(
    ("members", "held", "others", "moves"),
    [
        # Alone: take everything free.
        (1, set(), set(), Moves(take=(0, 1, 2, 3, 4, 5, 6, 7))),
        (1, {0, 1}, {2, 3}, Moves(take=(4, 5, 6, 7))),  # the others' leases are still live
        # A newcomer appears: the holder of all eight keeps four and hands back the highest.
        (2, set(range(8)), set(), Moves(release=(7, 6, 5, 4))),
        # The newcomer takes the free ones up to its share.
        (2, set(), {0, 1, 2, 3}, Moves(take=(4, 5, 6, 7))),
        (3, {0, 1, 2, 3}, {4, 5, 6, 7}, Moves(release=(3,))),
        (3, set(), {0, 1, 2, 4, 5, 6}, Moves(take=(3, 7))),
        # At its share: nothing to do, even with free partitions left for a newcomer.
        (3, {0, 1, 2}, set(), Moves()),
        # More replicas than partitions: one each, the rest hold none.
        (9, {0}, set(range(1, 8)), Moves()),
        (9, set(), set(range(8)), Moves()),
    ],
)
def test_a_replica_moves_towards_its_fair_share(
    members: int, held: set[int], others: set[int], moves: Moves
) -> None:
    assert rebalance(8, members, held, others) == moves
