"""What the relay logs: each batch at DEBUG, at INFO a summary at most every 30 s, and a lease
wait at once, naming the holder and when its lease expires."""

from __future__ import annotations

import logging

import pytest

from outbox.store.memory.store import MemoryStore
from relay.log_summary import LogSummary
from tests.support.clock import FakeClock
from tests.support.relay import MakeRelay, insert_events


def info_lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.INFO
    ]


def test_batches_go_to_debug_and_info_gets_one_summary(
    memory_store: MemoryStore, make_relay: MakeRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    insert_events(memory_store, per_gateway=3, gateways=2)
    relay = make_relay(memory_store, batch_size=2)

    while relay.run_once().more:
        pass

    batches = [r for r in caplog.records if r.getMessage().startswith("batch: ")]
    assert len(batches) == 3 and {r.levelno for r in batches} == {logging.DEBUG}
    assert "gw_0000 v1" in batches[0].getMessage()  # a batch names its gateways and versions
    summaries = info_lines(caplog, "relay.log_summary")
    assert len(summaries) == 1  # the first batch after a quiet time; the next ones wait 30 s
    assert summaries[0].startswith("published 2 events in 1 batches")


def test_the_summary_comes_every_interval_while_busy_with_the_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    now = [0.0]
    summary = LogSummary(interval=30, monotonic=lambda: now[0])

    summary.add(published=1, duplicates=0, lag=0.1)
    for second in range(1, 31):
        now[0] = float(second)
        summary.add(published=10, duplicates=1 if second == 5 else 0, lag=second / 100)

    assert info_lines(caplog, "relay.log_summary") == [
        "published 1 events in 1 batches over 0s, 0 already in stream, max lag 0.100s",
        "published 300 events in 30 batches over 30s, 10.0/s, 1 already in stream, max lag 0.300s",
    ]


def test_a_relay_waiting_for_the_lease_says_so_at_once_naming_holder_and_expiry(
    memory_store: MemoryStore, make_relay: MakeRelay, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    leader = make_relay(memory_store, relay_id="relay-a", clock=clock)
    standby = make_relay(memory_store, relay_id="relay-b", clock=clock)
    assert leader.run_once().leader
    caplog.set_level(logging.INFO)

    assert not standby.run_once().leader
    assert not standby.run_once().leader

    waits = [r for r in caplog.records if "standing by" in r.getMessage()]
    assert [r.getMessage() for r in waits] == [
        "lease relay:events:gateway is held by relay relay-a until 2026-01-01 12:00:05 UTC: "
        "standing by"
    ]
    assert waits[0].relay_id == "relay-b"  # type: ignore[attr-defined]
