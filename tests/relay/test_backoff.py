"""Waiting: back-off during outages, adaptive polling when idle."""

from __future__ import annotations

import pytest

from relay.backoff import backoff, poll_wait


@pytest.mark.parametrize(
    ("attempt", "random", "expected"),
    [
        (0, 0.5, 0.0),
        (1, 0.0, 0.05),  # half of base, never zero: no retry storms
        (1, 1.0, 0.1),
        (2, 0.0, 0.1),
        (3, 1.0, 0.4),
        (10, 0.0, 15.0),  # capped at 30: half fixed
        (10, 1.0, 30.0),
        (500, 1.0, 30.0),  # no overflow however long the outage
    ],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(
    attempt: int, random: float, expected: float
) -> None:
    assert backoff(attempt, base=0.1, cap=30.0, random=lambda: random) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("idle_polls", "expected"),
    [(0, 0.01), (1, 0.02), (2, 0.04), (5, 0.32), (7, 1.0), (10_000, 1.0)],
)
def test_polling_is_quick_after_work_and_slows_down_when_idle(
    idle_polls: int, expected: float
) -> None:
    assert poll_wait(idle_polls, short=0.01, long=1.0) == pytest.approx(expected)
