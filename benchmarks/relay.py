"""Relay benchmark: throughput against a naive baseline, commit-to-stream latency, peak RSS.

    .venv/bin/python -m benchmarks.relay                  # full size (a few minutes)
    .venv/bin/python -m benchmarks.relay --nx-events 20000 --memory-events 2000 \\
        --latency-seconds 5 --rss-sizes 5000,20000         # smaller
    .venv/bin/python -m benchmarks.relay --quick          # tiny: it runs, timing not checked

Starts its own redis-server and nx-27017 (one SQLite file per database). The naive baseline
fetches a batch, XADDs it in one pipeline and marks it with `update_many`: no dedupe, no lease,
no ordering check. Both read the same batch size and parse events the same way. Each part says
PASS or MISS against its target; the exit status is 1 on a MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

from benchmarks.verdict import exit_status
from outbox.domain.clock import as_utc, utcnow
from outbox.domain.events import EventType, OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX, Store
from outbox.stream.redis.stream import RedisStream
from relay.daemon import Relay
from relay.factory import stream_config
from relay.settings import RelaySettings
from tests.support.servers import NxServer, RedisServer

STREAM = "events:gateway"
THROUGHPUT_TARGET = 0.9  # the relay's drain against the naive loop's, same run
ROOT = Path(__file__).resolve().parents[1]
RELAY_COMMAND = [str(Path(sys.executable).with_name("outbox")), "relay", "run"]


def settings(**overrides: Any) -> RelaySettings:
    return RelaySettings(_env_file=None, stream=STREAM, metrics_port=0, **overrides)  # type: ignore[call-arg]


def write_events(
    store: Store,
    count: int,
    *,
    gateways: int = 1000,
    fields: Callable[[], dict[str, Any]] = dict,
) -> None:
    """`count` events spread over `gateways`, versions ascending in commit order; `fields()`
    gives each more arguments of `OutboxEvent.for_gateway` (an actor, a trace)."""
    base = utcnow() - timedelta(hours=1)
    collection = store.collection(OUTBOX)
    chunk: list[dict[str, Any]] = []
    for n in range(count):
        chunk.append(
            OutboxEvent.for_gateway(
                f"gw_{n % gateways:06d}",
                EventType.SPEC_UPDATED,
                version=n // gateways + 1,
                at=base + timedelta(milliseconds=n),
                payload={"spec_version": n // gateways + 1, "image": "nginx:1.27"},
                **fields(),
            ).to_document()
        )
        if len(chunk) == 5000:
            collection.insert_many(chunk)
            chunk = []
    if chunk:
        collection.insert_many(chunk)


def reset(store: Store, client: redis.Redis) -> None:
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": None}})
    client.flushall()


def naive_drain(store: Store, client: redis.Redis, batch_size: int) -> int:
    outbox = store.collection(OUTBOX)
    total = 0
    while True:
        documents = outbox.find({"published_at": None}, sort=[("occurred_at", 1)], limit=batch_size)
        if not documents:
            return total
        events = [OutboxEvent.from_document(document) for document in documents]
        pipe = client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(STREAM, event.stream_fields(), maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
        pipe.execute()
        outbox.update_many(
            {"_id": {"$in": [e.id for e in events]}}, {"$set": {"published_at": utcnow()}}
        )
        total += len(events)


def relay_drain(store: Store, client: redis.Redis, batch_size: int) -> int:
    config = settings(batch_size=batch_size)
    publisher = RedisStream(client).with_config(stream_config(config))
    return Relay(store, publisher, config).drain(lease_wait=1).published


def timed(label: str, drain: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    published = drain()
    elapsed = time.perf_counter() - started
    assert published == expected, f"{label}: published {published}, expected {expected}"
    rate = published / elapsed
    print(
        f"  {label:<9} {published:>7} events in {elapsed:6.2f}s = {rate:8.0f} events/s", flush=True
    )
    return rate


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def throughput(
    name: str, store: Store, client: redis.Redis, count: int, batch_size: int, repeat: int
) -> bool:
    """Alternate baseline and relay on the same rows; the best run of each counts (the machine
    is shared, so a slow run says more about the neighbours than about the code)."""
    print(f"throughput, {name}, {count} pre-written events, batch {batch_size}:", flush=True)
    started = time.perf_counter()
    write_events(store, count)
    print(f"  (written in {time.perf_counter() - started:.1f}s)", flush=True)
    rates: dict[str, list[float]] = {"baseline": [], "relay": []}
    drains = {"baseline": naive_drain, "relay": relay_drain}
    for _ in range(repeat):
        for label, drain in drains.items():
            reset(store, client)
            rates[label].append(timed(label, lambda d=drain: d(store, client, batch_size), count))  # type: ignore[misc]
            assert client.xlen(STREAM) == count
    baseline, relay = max(rates["baseline"]), max(rates["relay"])
    passed = relay >= THROUGHPUT_TARGET * baseline
    medians = statistics.median(rates["relay"]) / statistics.median(rates["baseline"])
    print(
        f"  best: baseline {baseline:.0f}/s, relay {relay:.0f}/s; relay/baseline = "
        f"{relay / baseline:.2f} (target >= {THROUGHPUT_TARGET:.2f}) {verdict(passed)}; "
        f"medians {medians:.2f}",
        flush=True,
    )
    return passed


def relay_env(
    nx: NxServer, database: str, redis_server: RedisServer, **extra: str
) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("OUTBOX_")},
        "OUTBOX_MONGODB_URI": nx.uri,
        "OUTBOX_DATABASE": database,
        "OUTBOX_REDIS_URL": redis_server.url,
        "OUTBOX_METRICS_PORT": "0",
        "OUTBOX_LEASE_SECONDS": "5",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def latency(
    nx: NxServer,
    redis_server: RedisServer,
    client: redis.Redis,
    rate: int,
    seconds: float,
    *,
    history: int = 20_000,
    settle: float = 3.0,
) -> bool:
    print(
        f"commit-to-stream latency, nx-27017, {rate} events/s offered for {seconds:.0f}s:",
        flush=True,
    )
    store = MongoStore(nx.uri, database="latency")
    store.ensure_indexes(retention_seconds=0)
    write_events(store, history)  # the relay's queries run against a realistic table
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": utcnow()}})
    client.flushall()
    relay = subprocess.Popen(
        RELAY_COMMAND,
        env=relay_env(nx, "latency", redis_server),
        cwd="/tmp",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(settle)  # started and holding the lease
        # Warm-up, not measured: the relay may be in its longest idle wait.
        offered = offer(store, rate, min(2.0, settle), EventType.START_REQUESTED)
        offered += offer(store, rate, seconds, EventType.STOP_REQUESTED)
        deadline = time.monotonic() + 30
        while client.xlen(STREAM) < offered and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.terminate()
        relay.wait(timeout=15)
    # Commit time as the writer stamped it; stream time from the entry id (Redis's clock, ms).
    committed = {
        document["_id"]: as_utc(document["occurred_at"])
        for document in store.collection(OUTBOX).find(
            {"type": str(EventType.STOP_REQUESTED)}, projection={"occurred_at": 1}
        )
    }
    delays = sorted(
        int(entry_id.split("-")[0]) - committed[fields["event_id"]].timestamp() * 1000
        for entry_id, fields in client.xrange(STREAM)
        if fields["event_id"] in committed
    )
    assert len(delays) == len(committed), "every offered event reached the stream"
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    passed = p50 <= 20 and p99 <= 150
    print(
        f"  {len(delays)} events: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {delays[-1]:.1f} ms "
        f"(targets 20 / 150) {verdict(passed)}",
        flush=True,
    )
    store.close()
    return passed


def offer(store: Store, rate: int, seconds: float, kind: EventType) -> int:
    """One event per commit at a steady rate, each stamped when it is written."""
    outbox = store.collection(OUTBOX)
    interval = 1 / rate
    started = time.perf_counter()
    n = 0
    while (now := time.perf_counter()) - started < seconds:
        due = started + n * interval
        if now < due:
            time.sleep(due - now)
        outbox.insert_one(
            OutboxEvent.for_gateway(
                f"gw_{kind.name.lower()}_{n % 50:03d}", kind, version=n // 50 + 1, at=utcnow()
            ).to_document()
        )
        n += 1
    return n


def peak_rss(
    nx: NxServer, redis_server: RedisServer, client: redis.Redis, sizes: list[int]
) -> bool:
    print("relay peak RSS as a subprocess (`relay run --once`), nx-27017:", flush=True)
    results = []
    for size in sizes:
        database = f"rss{size}"
        store = MongoStore(nx.uri, database=database)
        store.ensure_indexes(retention_seconds=0)
        write_events(store, size)
        client.flushall()
        with tempfile.TemporaryFile("w+") as log:  # the relay's own account, if it fails
            process = subprocess.Popen(
                [*RELAY_COMMAND, "--once"],
                # The default lease: on a loaded machine one batch over the whole backlog can
                # outlast the short lease the latency run uses, and the drain stops there.
                env=relay_env(nx, database, redis_server, OUTBOX_LEASE_SECONDS="15"),
                cwd="/tmp",
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            started = time.perf_counter()
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            failure = log.read()[-2000:]
        assert process.returncode == 0, f"relay exit {process.returncode}: {failure}"
        assert client.xlen(STREAM) == size, f"{client.xlen(STREAM)} in the stream, not {size}"
        rss_mb = usage.ru_maxrss / 1024
        results.append(rss_mb)
        print(
            f"  {size:>7} events: peak RSS {rss_mb:6.1f} MB ({time.perf_counter() - started:.1f}s)",
            flush=True,
        )
        store.client.drop_database(database)
        store.close()
    spread = (max(results) - min(results)) / min(results)
    passed = spread <= 0.10
    print(f"  difference {spread:.1%} (target within 10%) {verdict(passed)}", flush=True)
    return passed


QUICK = {
    "nx_events": 200,
    "memory_events": 200,
    "repeat": 1,
    "latency_rate": 50,
    "latency_seconds": 1.0,
    "rss_sizes": "200,400",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nx-events", type=int, default=100_000)
    parser.add_argument("--memory-events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each drain")
    parser.add_argument("--batch-size", type=int, default=settings().batch_size)
    parser.add_argument("--latency-rate", type=int, default=200)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--rss-sizes", default="20000,100000")
    parser.add_argument("--skip", default="", help="comma list of: nx, memory, latency, rss")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round: check it runs, not its timing"
    )
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    skip = set(filter(None, args.skip.split(",")))
    redis_server = RedisServer().start()
    nx = NxServer().start()
    client = redis_server.client()
    passed = []
    try:
        if "nx" not in skip:
            store = MongoStore(nx.uri, database="throughput")
            store.ensure_indexes(retention_seconds=0)
            passed.append(
                throughput("nx-27017", store, client, args.nx_events, args.batch_size, args.repeat)
            )
            store.close()
        if "memory" not in skip:
            passed.append(
                throughput(
                    "in memory",
                    MemoryStore(),
                    client,
                    args.memory_events,
                    args.batch_size,
                    args.repeat,
                )
            )
        if "latency" not in skip:
            history, settle = (200, 1.0) if args.quick else (20_000, 3.0)
            passed.append(
                latency(
                    nx,
                    redis_server,
                    client,
                    args.latency_rate,
                    args.latency_seconds,
                    history=history,
                    settle=settle,
                )
            )
        if "rss" not in skip:
            sizes = [int(s) for s in args.rss_sizes.split(",")]
            passed.append(peak_rss(nx, redis_server, client, sizes))
    finally:
        client.close()
        nx.close()
        redis_server.close()
    return exit_status(passed, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
