"""Back-off between retries: doubling, equal jitter, capped (both daemons use this one)."""

from __future__ import annotations

import pytest

from outbox.domain.backoff import backoff


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


@pytest.mark.parametrize("random", [0.0, 0.25, 0.999])
def test_half_of_the_delay_is_fixed_and_half_is_jitter(random: float) -> None:
    nominal = 8.0  # base 1, fourth attempt
    delay = backoff(4, base=1.0, cap=300.0, random=lambda: random)
    assert delay == pytest.approx(nominal / 2 + random * nominal / 2)
    assert nominal / 2 <= delay <= nominal
