"""The per-gateway ordering rule, decided without I/O."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from relay.ordering import Row, lowest_outside, plan, predecessors, settle, unproven


@dataclass(frozen=True)
class E:
    aggregate_id: str
    version: int

    @property
    def id(self) -> str:
        return f"{self.aggregate_id}:{self.version}"


def batch(text: str) -> list[E]:
    """'a1 b1 a2' → events in that commit order."""
    return [E(word[0], int(word[1:])) for word in text.split()]


def words(events: list[E]) -> str:
    return " ".join(f"{e.aggregate_id}{e.version}" for e in events)


@pytest.mark.parametrize(
    ("commit_order", "lowest_outside_batch", "published", "held"),
    [
        # Nothing else unpublished: everything goes, in commit order.
        ("a1 b1 a2 b2", {}, "a1 b1 a2 b2", ""),
        # The batch limit cut gateway a after v2; its later versions are not lower: a goes.
        ("a1 a2 b1", {"a": 3}, "a1 a2 b1", ""),
        # A parked (or not yet fetched) a1 holds up a2 and a3, but not b.
        ("a2 b1 a3 b2", {"a": 1}, "b1 b2", "a2 a3"),
        # A hole in the middle: a3 is outside the batch, so a2 goes and a4 waits.
        ("a2 a4 b1", {"a": 3}, "a2 b1", "a4"),
        # Commit timestamps disagree with versions (writers' clocks): put back in version order,
        # keeping the slots a used in commit order.
        ("a3 b1 a2 a1", {}, "a1 b1 a2 a3", ""),
        # Version gaps (a step without an event) do not hold anything up.
        ("a1 a4 a9", {"a": 12}, "a1 a4 a9", ""),
        ("", {}, "", ""),
    ],
)
def test_an_event_goes_only_when_its_gateway_has_no_lower_unpublished_version(
    commit_order: str, lowest_outside_batch: dict[str, int], published: str, held: str
) -> None:
    decision = plan(batch(commit_order), lowest_outside_batch)

    assert words(decision.publish) == published
    assert words(decision.held) == held


@pytest.mark.parametrize(
    ("in_batch", "unpublished_rows", "expected"),
    [
        ("a2 a3", "a2 a3", {}),
        ("a2 a3", "a1 a2", {"a": 1}),
        ("a5 b1", "a4 a3 b1", {"a": 3}),
        ("a1", "", {}),
    ],
)
def test_lowest_outside_ignores_the_batch_itself(
    in_batch: str, unpublished_rows: str, expected: dict[str, int]
) -> None:
    assert lowest_outside(batch(in_batch), rows(unpublished_rows)) == expected


def rows(text: str) -> list[Row]:
    """'a1 a2! b1' → unpublished rows; '!' marks a parked one."""
    return [
        Row(f"{w[0]}:{w[1:].rstrip('!')}", w[0], int(w[1:].rstrip("!")), w.endswith("!"))
        for w in text.split()
    ]


@pytest.mark.parametrize(
    ("in_batch", "unpublished_rows", "limit", "expected"),
    [
        # Nothing missing below the batch.
        ("a1 a2 b1", "a1 a2 b1 a3", 10, ""),
        # a2 sorts after the batch (its writer's clock was behind): fetch it.
        ("a1 a3 b1", "a1 a2 a3 b1", 10, "a2"),
        # A parked a1: nothing to fetch for a, it waits for the operator.
        ("a2 a3", "a1! a2 a3", 10, ""),
        # An unreadable a3 parked in the middle: a2 below it still goes, a4 above it waits.
        ("a4 b1", "a2 a3! a4 b1", 10, "a2"),
        # The lowest versions first when the limit bites.
        ("a9 b9", "a3 a4 b2 a9 b9", 2, "b2 a3"),
        # Versions above everything of that gateway in the batch are not needed.
        ("a1 b5", "a1 a2 a3 b5", 10, ""),
    ],
)
def test_missing_lower_versions_are_fetched_into_the_batch(
    in_batch: str, unpublished_rows: str, limit: int, expected: str
) -> None:
    ids = predecessors(batch(in_batch), rows(unpublished_rows), limit)

    assert " ".join(i.replace(":", "") for i in ids) == expected


@pytest.mark.parametrize(
    ("in_batch", "settled", "asked_about"),
    [
        # Versions from 1 without a gap: nothing can be below them.
        ("a1 b1 a2 b2", {}, ""),
        # Just above what is settled, without a gap, in any commit order.
        ("a4 b2 a3", {"a": 2, "b": 1}, ""),
        # Nothing known about a and its versions do not start at 1: a2 may be waiting.
        ("a3 b1", {}, "a"),
        # A gap inside the batch (a step without an event, or a4 late): the outbox decides.
        ("a3 a5", {"a": 2}, "a"),
        # A gap just above what is settled.
        ("a4 b2", {"a": 2, "b": 1}, "a"),
        # A version at or below what is settled is back (a repair, a restore): ask.
        ("a2 a3", {"a": 2}, "a"),
        # Twice the same version (no unique index) proves nothing either.
        ("a1 a1 a2 b1", {}, "a"),
        ("", {}, ""),
    ],
)
def test_the_outbox_is_asked_only_about_gateways_the_batch_does_not_prove(
    in_batch: str, settled: dict[str, int], asked_about: str
) -> None:
    assert unproven(batch(in_batch), settled) == set(asked_about.split())


@pytest.mark.parametrize(
    ("settled", "reached", "after"),
    [
        ({}, "a1 b1 a2", {"a": 2, "b": 1}),
        ({"a": 5}, "a6 b3", {"a": 6, "b": 3}),
        # Never lowered (a duplicate of an older version reported again).
        ({"a": 5}, "a3", {"a": 5}),
    ],
)
def test_what_reached_the_stream_settles_its_gateway_up_to_its_highest_version(
    settled: dict[str, int], reached: str, after: dict[str, int]
) -> None:
    settle(settled, batch(reached))

    assert settled == after
