"""Stream benchmark: the Redis Cluster against a single redis-server, the high-water marks'
memory against the per-event dedupe keys they replaced, and what WAIT costs.

    .venv/bin/python -m benchmarks.stream            # full size (about a minute)
    .venv/bin/python -m benchmarks.stream --quick    # tiny: it runs, figures not checked

Starts its own redis-server and Redis Clusters (three masters; three masters with a replica
each). The relay drains an in-memory store, so Redis is what differs between the runs, which
alternate; the medians count. PASS or MISS against each target; exit 1 on a MISS (never with
`--quick`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from benchmarks.relay import settings, verdict, write_events
from benchmarks.verdict import exit_status
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import StreamConfig
from outbox.stream import keys as stream_keys
from outbox.stream.redis.stream import RedisStream
from relay.daemon import Relay
from relay.factory import stream_config
from tests.support.redis_cluster import RedisClusterServers
from tests.support.servers import RedisServer
from tests.support.stream_harness import event

STREAM = "events:gateway"
WEEK = 7 * 86_400


def drain_rate(store: MemoryStore, client: Any, count: int) -> float:
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": None}})
    client.flushall()
    config = settings()
    publisher = RedisStream(client).with_config(stream_config(config))
    started = time.perf_counter()
    published = Relay(store, publisher, config).drain(lease_wait=1).published
    assert published == count, f"published {published}, expected {count}"
    return published / (time.perf_counter() - started)


def cluster_vs_single(single: Any, cluster: Any, count: int, repeat: int) -> bool:
    print(f"relay drain, {count} events (in-memory store), cluster vs single:", flush=True)
    store = MemoryStore()
    write_events(store, count)
    rates: dict[str, list[float]] = {"single": [], "cluster": []}
    for _ in range(repeat):
        for label, client in (("single", single), ("cluster", cluster)):
            rates[label].append(drain_rate(store, client, count))
            print(f"  {label:<8} {rates[label][-1]:8.0f} events/s", flush=True)
    one, many = statistics.median(rates["single"]), statistics.median(rates["cluster"])
    passed = many >= 0.8 * one
    print(
        f"  medians: single {one:.0f}/s, cluster {many:.0f}/s; ratio {many / one:.2f} "
        f"(target >= 0.80) {verdict(passed)}",
        flush=True,
    )
    return passed


def marks_memory(client: Any, events: int, gateways: int) -> bool:
    print(f"dedupe memory after {events} events on {gateways} gateways:", flush=True)
    client.flushall()
    stream = RedisStream(client, StreamConfig(stream=STREAM))
    per_gateway = events // gateways
    for version in range(1, per_gateway + 1):
        stream.publish([event(f"gw_{g:06d}", version) for g in range(gateways)], token=1)
    names = [stream_keys.marks_key(STREAM), stream_keys.seeded_key(STREAM)]
    names.append(stream_keys.fence_key(STREAM))
    marks = sum(int(client.memory_usage(name) or 0) for name in names)
    # The keys of the release before the marks, written as it wrote them: one per event id.
    ids = [fields["event_id"] for _, fields in client.xrange(STREAM)]
    prefix = stream_keys.legacy_dedupe_prefix(STREAM)
    pipe = client.pipeline(transaction=False)
    for event_id in ids:
        pipe.set(prefix + event_id, "1", ex=WEEK)
    pipe.execute()
    pipe = client.pipeline(transaction=False)
    for event_id in ids:
        pipe.memory_usage(prefix + event_id)
    old = sum(int(size or 0) for size in pipe.execute())
    passed = marks <= 0.05 * old
    print(
        f"  marks {marks / 1024:.1f} KiB vs per-event keys {old / 1024:.1f} KiB = "
        f"{marks / old:.2%} (target <= 5%) {verdict(passed)}",
        flush=True,
    )
    return passed


def wait_cost(cluster: RedisClusterServers, batches: int, repeat: int) -> None:
    print(f"publish cost, {batches} batches of 100, cluster with a replica per master:", flush=True)
    timings: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(repeat):
        for replicas in (0, 1):
            client = cluster.client()
            client.flushall()
            stream = RedisStream(client, StreamConfig(stream=STREAM, wait_replicas=replicas))
            started = time.perf_counter()
            for b in range(batches):
                stream.publish([event(f"gw_{g}", b + 1) for g in range(100)], token=1)
            timings[replicas].append((time.perf_counter() - started) / batches * 1000)
            client.close()
    without, with_wait = statistics.median(timings[0]), statistics.median(timings[1])
    print(
        f"  medians: {without:.2f} ms per batch without WAIT, {with_wait:.2f} ms with "
        f"OUTBOX_REDIS_WAIT_REPLICAS=1 ({with_wait / without:.2f}x; printed, no target)",
        flush=True,
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drain-events", type=int, default=3000)
    parser.add_argument("--memory-events", type=int, default=100_000)
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--wait-batches", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(drain_events=500, memory_events=2000, gateways=100, wait_batches=5)
        args.repeat = 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    single, cluster = RedisServer().start(), RedisClusterServers(masters=3).start()
    replicated = RedisClusterServers(masters=3, replicas=1).start()
    passed = []
    try:
        single_client, cluster_client = single.client(), cluster.client()
        passed.append(
            cluster_vs_single(single_client, cluster_client, args.drain_events, args.repeat)
        )
        passed.append(marks_memory(single_client, args.memory_events, args.gateways))
        wait_cost(replicated, args.wait_batches, args.repeat)
    finally:
        replicated.close()
        cluster.close()
        single.close()
    return exit_status(passed, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
