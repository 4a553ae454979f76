"""Outage tracking shared by both daemons: once each way in the log, counted once, backing off."""

from __future__ import annotations

import logging

import pytest

from outbox.domain.errors import BackendUnavailable
from outbox.runtime.outages import MONGODB, REDIS, Outages

log = logging.getLogger("tests.outages")


class Seconds:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tracker(now: Seconds, counted: list[str], probe_interval: float = 1.0) -> Outages:
    return Outages(
        log=log,
        count=counted.append,
        probe_interval=probe_interval,
        monotonic=now,
        random=lambda: 1.0,  # the longest jitter: waits are exact
    )


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now, counted = Seconds(), []
    outages = tracker(now, counted)
    down = BackendUnavailable("Redis at test is unreachable")

    with caplog.at_level(logging.DEBUG, logger="tests.outages"):
        for _ in range(5):
            outages.failed(REDIS, down)
            now.now += 1
        outages.answered(REDIS)
        outages.answered(REDIS)

    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [m for level, m in lines if level >= logging.INFO] == [
        "Redis unavailable (Redis at test is unreachable); retrying with back-off, at most 1.0s "
        "apart",
        "Redis reachable again after 5 failed attempts (5.0s)",
    ]
    assert len([m for level, m in lines if level == logging.DEBUG]) == 4
    assert counted == [REDIS]


def test_the_wait_doubles_up_to_the_probe_interval_and_starts_over_after_recovery() -> None:
    outages = tracker(Seconds(), [], probe_interval=0.5)
    down = BackendUnavailable("down")
    assert outages.wait() == 0.0

    waits = []
    for _ in range(5):
        outages.failed(MONGODB, down)
        waits.append(outages.wait())
    outages.answered(MONGODB)
    outages.failed(MONGODB, down)

    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert outages.wait() == pytest.approx(0.1)


def test_each_backend_has_its_own_outage() -> None:
    counted: list[str] = []
    outages = tracker(Seconds(), counted)
    outages.failed(REDIS, BackendUnavailable("redis down"))
    outages.failed(MONGODB, BackendUnavailable("mongodb down"))
    outages.answered(MONGODB)

    assert outages.down(REDIS) and not outages.down(MONGODB)
    assert outages.any
    assert counted == [REDIS, MONGODB]
