"""What trace propagation costs when nothing exports: relay drain and writer creates with the
product's tracer provider installed and no OTLP endpoint ("on", as every `outbox` command runs
without OTEL_EXPORTER_OTLP_ENDPOINT: spans get ids and the context travels, nothing is recorded)
against the OpenTelemetry API's no-op provider ("off": no ids, nothing carried).

    .venv/bin/python -m benchmarks.tracing [--events 3000] [--creates 300] [--rounds 11] [--quick]

OpenTelemetry allows one global provider per process, so each mode runs in a process of its own,
kept for all rounds: a round runs off and on in turn (the order alternating between rounds) for
each figure, on a fresh store. "On" runs as in production: the writer's span per create inside
a caller's trace, the context stored on each gateway and event; events carrying `traceparent`,
a batch span linked to them. The relay drains an in-memory store into a private redis-server.
Targets: on/off >= 0.95 for both figures, on the medians of the rounds' rates. Exit status 1 on
a MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import redis

from outbox import tracing
from outbox.actors import python_actor
from outbox.clock import utcnow
from outbox.events import EventType, OutboxEvent
from outbox.memory_store import MemoryStore
from outbox.store import OUTBOX
from outbox.stream.redis_stream import RedisStream
from outbox.tracer_provider import configure_tracing
from outbox.writer import Writer
from relay.daemon import Relay
from relay.factory import stream_config
from relay.settings import RelaySettings
from tests.support.servers import RedisServer

TARGET = 0.95
STREAM = "events:gateway"
ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("relay", "writer")


# -- one run, in its own process ------------------------------------------------------------------

Rates = tuple[float, float]  # per second of wall-clock time, per second of this process's CPU


def timed(count: int, work: Callable[[], None]) -> Rates:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return count / (time.perf_counter() - wall), count / (time.process_time() - cpu)


def relay_run(redis_url: str, events: int) -> Rates:
    """Events/s of one relay drain of `events` pre-written events."""
    store = MemoryStore()
    write_events(store, events)
    client = RedisStream.from_url(redis_url)
    settings = RelaySettings(_env_file=None, stream=STREAM, metrics_port=0)  # type: ignore[call-arg]
    relay = Relay(store, client.with_config(stream_config(settings)), settings)

    def drain() -> None:
        published = relay.drain(lease_wait=1).published
        assert published == events, f"published {published} of {events}"

    return timed(events, drain)


def write_events(store: MemoryStore, count: int, *, gateways: int = 100) -> None:
    """As the writer leaves them: each event of a trace of its own when tracing is on."""
    base = utcnow() - timedelta(hours=1)
    documents = []
    for n in range(count):
        with tracing.span("request"):
            trace = tracing.trace_fields()
        documents.append(
            OutboxEvent.for_gateway(
                f"gw_{n % gateways:06d}",
                EventType.SPEC_UPDATED,
                version=n // gateways + 1,
                at=base + timedelta(milliseconds=n),
                payload={"spec_version": n // gateways + 1, "image": "nginx:1.27"},
                actor=python_actor(),
                trace=trace,
            ).to_document()
        )
    store.collection(OUTBOX).insert_many(documents)


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


def worker(args: argparse.Namespace) -> int:
    """One mode for the whole process: runs each figure the parent names on stdin, one line of
    JSON rates per run. Each mode drains into a Redis database of its own, emptied first."""
    if args.mode == "on":
        configure_tracing("benchmark")
    redis_url = args.redis_url.rsplit("/", 1)[0] + ("/1" if args.mode == "on" else "/0")
    for line in sys.stdin:
        if line.strip() == "relay":
            redis.Redis.from_url(redis_url).flushdb()
            rates = relay_run(redis_url, args.events)
        else:
            rates = writer_run(args.creates)
        print(json.dumps({"rates": rates}), flush=True)
    return 0


# -- the comparison -------------------------------------------------------------------------------


class Worker:
    """A process running in one mode, kept for every round, so that rounds are short and the
    two modes alternate closely (OpenTelemetry allows one global provider per process)."""

    def __init__(self, mode: str, args: argparse.Namespace, server: RedisServer) -> None:
        self.mode = mode
        environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        command = [sys.executable, "-m", "benchmarks.tracing", "--worker", "--mode", mode]
        command += ["--redis-url", server.url, "--events", str(args.events)]
        command += ["--creates", str(args.creates)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, figure: str) -> Rates:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(figure + "\n")
        self.process.stdin.flush()
        wall, cpu = json.loads(self.process.stdout.readline())["rates"]
        unit = "events/s" if figure == "relay" else "creates/s"
        print(f"  {figure:<6} {self.mode:<3} {wall:8.0f} {unit} ({cpu:.0f} per CPU second)")
        return float(wall), float(cpu)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


def compare(args: argparse.Namespace, server: RedisServer) -> bool:
    workers = {mode: Worker(mode, args, server) for mode in ("off", "on")}
    rates: dict[tuple[str, str], list[Rates]] = {
        (figure, mode): [] for figure in FIGURES for mode in workers
    }
    try:
        for round_number in range(args.rounds):
            print(f"round {round_number + 1} of {args.rounds}:", flush=True)
            order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
            for figure in FIGURES:
                for mode in order:
                    rates[figure, mode].append(workers[mode].run(figure))
    finally:
        for each in workers.values():
            each.close()
    return all([verdict(figure, rates, args.rounds) for figure in FIGURES])


def verdict(figure: str, rates: dict[tuple[str, str], list[Rates]], rounds: int) -> bool:
    """On the medians of the wall-clock rates (the target); the medians per CPU second of the
    benchmark's own process are printed beside them: they move less with the neighbours."""
    wall = {mode: statistics.median(w for w, _ in rates[figure, mode]) for mode in ("off", "on")}
    cpu = {mode: statistics.median(c for _, c in rates[figure, mode]) for mode in ("off", "on")}
    ratio = wall["on"] / wall["off"]
    print(
        f"{figure}: medians of {rounds} interleaved runs, propagation on (no exporter) "
        f"{wall['on']:.0f}/s vs off {wall['off']:.0f}/s = {ratio:.3f}x (target >= {TARGET}) "
        f"{'PASS' if ratio >= TARGET else 'MISS'}; per CPU second {cpu['on']:.0f} vs "
        f"{cpu['off']:.0f} = {cpu['on'] / cpu['off']:.3f}x"
    )
    return ratio >= TARGET


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events per relay drain")
    parser.add_argument("--creates", type=int, default=300, help="creates per writer run")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round, no verdict")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("off", "on"), help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.creates, args.rounds = 200, 20, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return worker(args)
    server = RedisServer().start()
    try:
        passed = compare(args, server)
    finally:
        server.close()
    return 0 if passed or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
