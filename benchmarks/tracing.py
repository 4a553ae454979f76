"""What trace propagation costs when nothing exports: relay drain and writer creates with the
SDK's tracer provider installed and no exporter ("on", as every `outbox` command runs without
OTEL_EXPORTER_OTLP_ENDPOINT) against the OpenTelemetry API's no-op provider ("off", the code
without tracing configured).

    .venv/bin/python -m benchmarks.tracing [--events 3000] [--creates 300] [--rounds 5] [--quick]

OpenTelemetry allows one global provider per process, so each run is a fresh process: a round
runs off and on in turn (the order alternating between rounds) for each figure. "On" runs as in
production: each create inside a trace of its own (as the command line and the API start one),
events carrying `traceparent`, a batch span linked to them, spans per write. The relay drains
an in-memory store into a private redis-server. Targets: on/off >= 0.95 for both figures, on
the medians of the rounds' rates. Exit status 1 on a MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from outbox import tracing
from outbox.actors import python_actor
from outbox.clock import utcnow
from outbox.events import EventType, OutboxEvent
from outbox.memory_store import MemoryStore
from outbox.store import OUTBOX
from outbox.stream.redis_stream import RedisStream
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


def relay_run(redis_url: str, events: int) -> float:
    """Events/s of one relay drain of `events` pre-written events."""
    store = MemoryStore()
    write_events(store, events)
    client = RedisStream.from_url(redis_url)
    settings = RelaySettings(_env_file=None, stream=STREAM, metrics_port=0)  # type: ignore[call-arg]
    relay = Relay(store, client.with_config(stream_config(settings)), settings)
    started = time.perf_counter()
    published = relay.drain(lease_wait=1).published
    elapsed = time.perf_counter() - started
    assert published == events, f"published {published} of {events}"
    return events / elapsed


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


def writer_run(creates: int) -> float:
    """Creates/s through the writer, each in a trace of its own (the caller's)."""
    writer = Writer(MemoryStore())
    started = time.perf_counter()
    for n in range(creates):
        with tracing.span("request"):
            writer.create(f"g{n}", {"image": "nginx:1.27", "environments": ["dev"]})
    return creates / (time.perf_counter() - started)


def child(args: argparse.Namespace) -> int:
    if args.mode == "on":
        tracing.configure_tracing("benchmark")
    rate = (
        relay_run(args.redis_url, args.events)
        if args.child == "relay"
        else writer_run(args.creates)
    )
    print(json.dumps({"rate": rate}))
    return 0


# -- the comparison -------------------------------------------------------------------------------


def run(figure: str, mode: str, args: argparse.Namespace, redis: RedisServer) -> float:
    if figure == "relay":
        redis.client().flushall()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    command = [sys.executable, "-m", "benchmarks.tracing", "--child", figure, "--mode", mode]
    command += ["--redis-url", redis.url, "--events", str(args.events)]
    command += ["--creates", str(args.creates)]
    done = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    rate = float(json.loads(done.stdout.strip().splitlines()[-1])["rate"])
    unit = "events/s" if figure == "relay" else "creates/s"
    print(f"  {figure:<6} {mode:<3} {rate:8.0f} {unit}", flush=True)
    return rate


def compare(args: argparse.Namespace, redis: RedisServer) -> bool:
    rates = {(figure, mode): [] for figure in FIGURES for mode in ("off", "on")}
    for round_number in range(args.rounds):
        print(f"round {round_number + 1} of {args.rounds}:", flush=True)
        order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
        for figure in FIGURES:
            for mode in order:
                rates[figure, mode].append(run(figure, mode, args, redis))
    passed = True
    for figure in FIGURES:
        off, on = (statistics.median(rates[figure, mode]) for mode in ("off", "on"))
        ratio = on / off
        verdict = "PASS" if ratio >= TARGET else "MISS"
        passed = passed and ratio >= TARGET
        print(
            f"{figure}: medians of {args.rounds} interleaved runs, propagation on (no exporter) "
            f"{on:.0f}/s vs off {off:.0f}/s = {ratio:.3f}x (target >= {TARGET}) {verdict}"
        )
    return passed


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events per relay drain")
    parser.add_argument("--creates", type=int, default=300, help="creates per writer run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round, no verdict")
    parser.add_argument("--child", choices=FIGURES, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("off", "on"), help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.creates, args.rounds = 200, 20, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return child(args)
    redis = RedisServer().start()
    try:
        passed = compare(args, redis)
    finally:
        redis.close()
    return 0 if passed or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
