"""The keyed pool: gateways in parallel, one gateway never in two workers at once."""

from __future__ import annotations

import threading
from collections import Counter

from provisioner.pool import KeyedPool


def test_one_gateway_is_never_handled_by_two_workers_at_once() -> None:
    # Given a pass of "a" held in a worker while seven more workers stand idle
    inside: Counter[str] = Counter()
    overlaps: list[str] = []
    lock = threading.Lock()
    started, release = threading.Event(), threading.Event()

    def handle(key: str) -> None:
        with lock:
            inside[key] += 1
            if inside[key] > 1:
                overlaps.append(key)
        if key == "a":
            started.set()
            release.wait(5)
        with lock:
            inside[key] -= 1

    pool = KeyedPool(workers=8, handle=handle)
    pool.submit("a")
    assert started.wait(5)

    # When "a" is asked for again and again meanwhile, between other gateways
    for _ in range(50):
        for key in ("a", "b", "c"):
            pool.submit(key)
    release.set()

    # Then no second worker ever took "a" up while the first still had it
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
    dropped = threading.Event()

    def queued_done(result: str | None) -> None:
        answers["queued"] = result
        dropped.set()

    pool.submit("queued", queued_done)
    finished: list[bool] = []
    shutting_down = threading.Thread(target=lambda: finished.append(pool.shutdown(grace=5)))
    shutting_down.start()
    assert dropped.wait(5), "the queued gateway is dropped at once"
    assert answers == {"queued": None}, "and the pass in hand is still running"

    release.set()
    shutting_down.join(5)

    assert finished == [True]
    assert answers == {"first": "finished", "queued": None}


def test_shutdown_gives_up_on_a_pass_that_outlasts_the_grace_period() -> None:
    started, release = threading.Event(), threading.Event()

    def handle(key: str) -> bool:
        started.set()
        return release.wait(5)

    pool = KeyedPool(workers=1, handle=handle)
    pool.submit("stuck")
    assert started.wait(5)

    assert pool.shutdown(grace=0) is False
    release.set()
