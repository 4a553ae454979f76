"""What trace propagation costs when nothing exports: relay drain and writer creates with the
product's tracer when no OTLP endpoint is set ("on", as every `outbox` command runs without
OTEL_EXPORTER_OTLP_ENDPOINT: spans get ids and the context travels, nothing is recorded) against
the OpenTelemetry API's no-op tracer ("off": no ids, nothing carried).

    .venv/bin/python -m benchmarks.tracing [--events 3000] [--creates 300] [--rounds 11] [--quick]

Both modes run in this one process, the tracer of `outbox.runtime.tracing` swapped between
runs: a round runs off and on in turn (the order alternating between rounds) for each figure,
on a fresh store.
An earlier design ran each mode in a long-lived process of its own (OpenTelemetry takes one
global provider per process); run with both processes "off", it measured 0.69x to 1.09x, so it
could not see a 5% effect. "On" runs as in production: the writer's span per create inside a
caller's trace, the context stored on each gateway and event; events carrying `traceparent`; a
batch span per relay batch. The relay drains an in-memory store into a private redis-server.
Targets: on/off >= 0.95 for both figures, on the medians of the rounds' rates. Exit status 1 on
a MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import redis
from opentelemetry import trace

from benchmarks.relay import write_events
from benchmarks.verdict import exit_status
from outbox.domain.actors import python_actor
from outbox.runtime import tracing
from outbox.runtime.tracer_provider import PropagatingTracer
from outbox.store.memory.store import MemoryStore
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from relay.daemon import Relay
from relay.factory import stream_config
from relay.settings import RelaySettings
from tests.support.servers import RedisServer

TARGET = 0.95
STREAM = "events:gateway"
FIGURES = ("relay", "writer")


# -- one run ------------------------------------------------------------------------------------

Rates = tuple[float, float]  # per second of wall-clock time, per second of this process's CPU


def timed(count: int, work: Callable[[], None]) -> Rates:
    """Rates of `work` with the cyclic garbage collector held off, as `timeit` does: its passes
    over the in-memory store's documents otherwise land in one run or the next at random."""
    gc.collect()
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)
    finally:
        gc.enable()


def relay_run(redis_url: str, events: int) -> Rates:
    """Events/s of one relay drain of `events` pre-written events."""
    store = MemoryStore()
    write_events(store, events, gateways=100, fields=as_the_writer_leaves_it)
    client = RedisStream.from_url(redis_url)
    settings = RelaySettings(_env_file=None, stream=STREAM, metrics_port=0)  # type: ignore[call-arg]
    relay = Relay(store, client.with_config(stream_config(settings)), settings)

    def drain() -> None:
        published = relay.drain(lease_wait=1).published
        assert published == events, f"published {published} of {events}"

    return timed(events, drain)


def as_the_writer_leaves_it() -> dict[str, Any]:
    """An event's actor, and a trace of its own when tracing is on."""
    with tracing.span("request"):
        return {"actor": python_actor(), "trace": tracing.trace_fields()}


def writer_run(creates: int) -> Rates:
    """Creates/s through the writer, inside a caller's trace: the writer's span per write, the
    context it stores on the gateway and the event. (The caller's own span per request is the
    command line's or the API's cost, about one more span, 50 µs here.)"""
    writer = Writer(MemoryStore())

    def create_all() -> None:
        with tracing.span("caller"):
            for n in range(creates):
                writer.create(f"g{n}", {"image": "nginx:1.27", "environments": ["dev"]})

    return timed(creates, create_all)


@contextmanager
def tracing_mode(mode: str) -> Iterator[None]:
    """The product's propagating tracer ("on") or the API's no-op one ("off") for a run."""
    tracer = PropagatingTracer() if mode == "on" else trace.NoOpTracer()
    with mock.patch.object(tracing, "_TRACER", tracer):
        yield


def run(figure: str, mode: str, args: argparse.Namespace, redis_url: str) -> Rates:
    with tracing_mode(mode):
        if figure == "relay":
            redis.Redis.from_url(redis_url).flushdb()
            wall, cpu = relay_run(redis_url, args.events)
        else:
            wall, cpu = writer_run(args.creates)
    unit = "events/s" if figure == "relay" else "creates/s"
    print(f"  {figure:<6} {mode:<3} {wall:8.0f} {unit} ({cpu:.0f} per CPU second)", flush=True)
    return wall, cpu


def compare(args: argparse.Namespace, server: RedisServer) -> bool:
    rates: dict[tuple[str, str], list[Rates]] = {
        (figure, mode): [] for figure in FIGURES for mode in ("off", "on")
    }
    for round_number in range(args.rounds):
        print(f"round {round_number + 1} of {args.rounds}:", flush=True)
        order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
        for figure in FIGURES:
            for mode in order:
                rates[figure, mode].append(run(figure, mode, args, server.url))
    return all([verdict(figure, rates, args.rounds) for figure in FIGURES])


def verdict(figure: str, rates: dict[tuple[str, str], list[Rates]], rounds: int) -> bool:
    """On the median of the rounds' on/off ratios of wall-clock rates (the target): a round runs
    both modes back to back, so its ratio cancels what moves between rounds (the rates here
    swing between rounds by up to 2x, far more than within one). The ratios per CPU second of
    this process, and the medians of the rates, are printed beside it."""
    on, off = rates[figure, "on"], rates[figure, "off"]
    ratio = statistics.median(a[0] / b[0] for a, b in zip(on, off, strict=True))
    cpu_ratio = statistics.median(a[1] / b[1] for a, b in zip(on, off, strict=True))
    median_on, median_off = (statistics.median(w for w, _ in runs) for runs in (on, off))
    print(
        f"{figure}: median of {rounds} paired rounds, propagation on (no exporter) vs off = "
        f"{ratio:.3f}x (target >= {TARGET}) {'PASS' if ratio >= TARGET else 'MISS'}; "
        f"per CPU second {cpu_ratio:.3f}x; median rates on {median_on:.0f}/s, "
        f"off {median_off:.0f}/s"
    )
    return ratio >= TARGET


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events per relay drain")
    parser.add_argument("--creates", type=int, default=300, help="creates per writer run")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round, no verdict")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.creates, args.rounds = 200, 20, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    server = RedisServer().start()
    try:
        passed = compare(args, server)
    finally:
        server.close()
    return exit_status([passed], quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
