"""Waiting when idle: quick after work, slower with every empty poll."""

from __future__ import annotations

import pytest

from relay.polling import poll_wait


@pytest.mark.parametrize(
    ("idle_polls", "expected"),
    [(0, 0.01), (1, 0.02), (2, 0.04), (5, 0.32), (7, 1.0), (10_000, 1.0)],
)
def test_polling_is_quick_after_work_and_slows_down_when_idle(
    idle_polls: int, expected: float
) -> None:
    assert poll_wait(idle_polls, short=0.01, long=1.0) == pytest.approx(expected)
