"""Sweeps and resyncs keep a fixed rate: a round that runs late does not push the next one back,
so "resync every 2 s" means five resyncs in 10 s, not four."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisioner.timers import Timers, next_due


@pytest.mark.parametrize(
    ("due", "now", "expected"),
    [
        (10.0, 10.3, 12.0),  # ran 0.3 s late: the next is still 2 s after it was due
        (10.0, 10.0, 12.0),
        (0.0, 100.0, 102.0),  # the first round: from now
        (10.0, 15.0, 17.0),  # fell a whole period behind (an outage): from now, no catching up
    ],
)
def test_the_next_round_is_due_an_interval_after_the_last_was_due(
    due: float, now: float, expected: float
) -> None:
    assert next_due(due, 2.0, now) == expected


def test_the_loop_knows_how_long_until_the_earliest_timer() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    timers = Timers()
    assert timers.seconds_until(now) == float("inf")

    timers.add("gw_1", now + timedelta(seconds=7))
    timers.add("gw_2", now + timedelta(seconds=3))

    assert timers.seconds_until(now) == 3.0
    assert timers.seconds_until(now + timedelta(seconds=5)) == 0.0  # due already
