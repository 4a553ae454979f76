"""The keyed pool: gateways in parallel, one gateway never in two workers at once."""

from __future__ import annotations

import threading
import time
from collections import Counter

from provisioner.pool import KeyedPool


def test_one_gateway_is_never_handled_by_two_workers_at_once() -> None:
    inside: Counter[str] = Counter()
    overlaps: list[str] = []
    lock = threading.Lock()

    def handle(key: str) -> None:
        with lock:
            inside[key] += 1
            if inside[key] > 1:
                overlaps.append(key)
        time.sleep(0.002)
        with lock:
            inside[key] -= 1

    pool = KeyedPool(workers=8, handle=handle)
    for round_ in range(50):
        for key in ("a", "b", "c"):
            pool.submit(key)
        if round_ % 10 == 0:
            time.sleep(0.001)
    assert pool.wait_idle(10)
    pool.shutdown(1)
    assert overlaps == []


def test_requests_arriving_during_a_pass_get_one_more_pass_and_every_caller_an_answer() -> None:
    started, release = threading.Event(), threading.Event()
    passes: list[str] = []

    def handle(key: str) -> str:
        passes.append(key)
        started.set()
        release.wait(5)
        return "looked"

    pool = KeyedPool(workers=2, handle=handle)
    answers: list[str | None] = []
    pool.submit("gw", answers.append)
    assert started.wait(5)
    for _ in range(5):  # all of these arrive while the first pass runs
        pool.submit("gw", answers.append)
    release.set()
    assert pool.wait_idle(5)
    assert passes == ["gw", "gw"]  # coalesced into a single extra pass
    assert answers == ["looked"] * 6  # what the pass found, to every caller
    pool.shutdown(1)


def test_different_gateways_run_in_parallel() -> None:
    barrier = threading.Barrier(4, timeout=5)
    pool = KeyedPool(workers=4, handle=lambda key: barrier.wait())
    for key in ("a", "b", "c", "d"):
        pool.submit(key)
    assert pool.wait_idle(5)  # would time out (BrokenBarrierError) if they ran one by one
    pool.shutdown(1)


def test_a_failing_pass_is_reported_as_not_done_and_the_pool_keeps_working() -> None:
    def handle(key: str) -> str:
        if key == "bad":
            raise RuntimeError("boom")
        return f"{key} handled"

    pool = KeyedPool(workers=1, handle=handle)
    answers: dict[str, str | None] = {}
    pool.submit("bad", lambda result: answers.__setitem__("bad", result))
    pool.submit("good", lambda result: answers.__setitem__("good", result))
    assert pool.wait_idle(5)
    assert answers == {"bad": None, "good": "good handled"}
    pool.shutdown(1)


def test_shutdown_finishes_the_pass_in_hand_and_drops_the_queued_ones_unanswered_as_done() -> None:
    started, release = threading.Event(), threading.Event()

    def handle(key: str) -> str:
        started.set()
        release.wait(5)
        return "finished"

    pool = KeyedPool(workers=1, handle=handle)
    answers: dict[str, str | None] = {}
    pool.submit("first", lambda result: answers.__setitem__("first", result))
    assert started.wait(5)
    pool.submit("queued", lambda result: answers.__setitem__("queued", result))
    threading.Timer(0.05, release.set).start()
    assert pool.shutdown(grace=5)
    assert answers == {"first": "finished", "queued": None}
