"""Partitions benchmark: the relay's drain into eight partitions on a Redis Cluster against one
stream on one redis-server, gateways each provisioner examines per sweep, and compare-and-set
conflicts of three provisioners with partitions against the unpartitioned code.

    .venv/bin/python -m benchmarks.partitions            # full size (a minute or two)
    .venv/bin/python -m benchmarks.partitions --quick    # tiny: it runs, figures not checked

Starts its own redis-server and a 3-master Redis Cluster. The relays drain an in-memory store
(one with no partitions recorded: the single stream of before; one with P recorded), and the
sides alternate; medians count. The provisioners run as threads on the in-memory store and the
memory cluster, the same gateways in both modes. PASS or MISS against each target; exit 1 on a
MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from benchmarks.relay import settings, verdict
from benchmarks.verdict import exit_status
from outbox.coordination.ownership import PartitionOwnership
from outbox.coordination.partition_count import write_record
from outbox.domain.clock import utcnow
from outbox.domain.errors import StaleWrite
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import Phase
from outbox.domain.partitions import partition_of
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX, Collections, Store
from outbox.store.repository import UnitOfWork
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from provisioner.factory import build_provisioner
from provisioner.sweeper import Sweeper
from relay.factory import build_relay
from tests.support.clock import FakeClock
from tests.support.redis_cluster import RedisClusterServers
from tests.support.servers import RedisServer
from tests.support.world import provisioner_settings

STREAM = "events:gateway"
P = 8


# -- 1. relay drain -----------------------------------------------------------------------------


def events_store(count: int, partitions: int | None, *, gateways: int = 1000) -> MemoryStore:
    """`count` events over `gateways`; with `partitions`, recorded and stamped."""
    store = MemoryStore()
    if partitions is not None:
        write_record(store, partitions, at=utcnow())
    base = utcnow() - timedelta(hours=1)
    documents = []
    for n in range(count):
        gateway = f"gw_{n % gateways:06d}"
        documents.append(
            OutboxEvent.for_gateway(
                gateway,
                EventType.SPEC_UPDATED,
                version=n // gateways + 1,
                at=base + timedelta(milliseconds=n),
                payload={"image": "nginx:1.27"},
                partition=partition_of(gateway, partitions or 1),
            ).to_document()
        )
    store.collection(OUTBOX).insert_many(documents)
    return store


def drain_rate(store: MemoryStore, client: Any, count: int) -> float:
    store.collection(OUTBOX).update_many({}, {"$set": {"published_at": None}})
    client.flushall()
    relay = build_relay(settings(), store=store, stream=RedisStream(client), change_streams=False)
    started = time.perf_counter()
    published = relay.drain(lease_wait=5).published
    assert published == count, f"published {published}, expected {count}"
    return published / (time.perf_counter() - started)


def relay_drain(single: Any, cluster: Any, count: int, repeat: int) -> bool:
    print(f"relay drain, {count} events (in-memory store), one relay:", flush=True)
    sides: dict[str, tuple[MemoryStore, Any]] = {
        "P=1 single stream, redis-server": (events_store(count, None), single),
        "P=8 on the Redis Cluster": (events_store(count, P), cluster),
        "P=1 partition, redis-server": (events_store(count, 1), single),
    }
    rates: dict[str, list[float]] = {label: [] for label in sides}
    for _ in range(repeat):
        for label, (store, client) in sides.items():
            rates[label].append(drain_rate(store, client, count))
            print(f"  {label:<32} {rates[label][-1]:8.0f} events/s", flush=True)
    base, many, one = (statistics.median(rates[label]) for label in sides)
    passed = many >= 0.8 * base
    print(
        f"  medians: one stream {base:.0f}/s, P=8 cluster {many:.0f}/s: ratio "
        f"{many / base:.2f} (target >= 0.80) {verdict(passed)}; one partition alone "
        f"sustains {one:.0f}/s through one relay",
        flush=True,
    )
    return passed


# -- 2. gateways examined per sweep -----------------------------------------------------------


def sweep_share(gateways: int) -> bool:
    print(f"gateways examined per sweep per replica, {gateways} gateways not at rest:", flush=True)
    store = MemoryStore()
    write_record(store, P, at=utcnow())
    writer = Writer(store)
    for n in range(gateways):
        writer.create(f"gw-{n}", {"image": "nginx:1.27"})
    passed = True
    for replicas in (1, 2, 4):
        examined = _examined(store, replicas)
        limit = 1.3 * gateways / replicas
        ok = max(examined) <= limit
        passed = passed and ok and sum(examined) == gateways
        print(
            f"  r={replicas}: {sorted(examined, reverse=True)} (most {max(examined)}, target <= "
            f"{limit:.0f}; unpartitioned: {gateways} each) {verdict(ok)}",
            flush=True,
        )
    return passed


def _examined(store: Store, replicas: int) -> list[int]:
    clock = FakeClock()
    owners = [
        PartitionOwnership(
            store,
            role=f"sweep-{replicas}",
            owner=f"p{n}",
            stream=STREAM,
            partitions=P,
            lease_seconds=8,
            clock=clock,
        )
        for n in range(replicas)
    ]
    for _ in range(40):  # balance until split: a few lease times
        for owner in owners:
            owner.balance()
        clock.advance(1)
    return [len(Sweeper(store, owned=owner.owned).due(clock())) for owner in owners]


# -- 3. compare-and-set conflicts -------------------------------------------------------------


class CountingStore:
    """The store as the provisioners see it, counting the commits lost to a compare-and-set."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.lost = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def transaction(self, work: Callable[[Collections], Any]) -> Any:
        try:
            return self._store.transaction(work)
        except StaleWrite:
            with self._lock:
                self.lost += 1
            raise


def conflicts(partitioned: bool, gateways: int, timeout: float) -> int:
    store = MemoryStore()
    if partitioned:
        write_record(store, P, at=utcnow())
    writer = Writer(store)
    ids = [writer.create(f"gw-{n}", {"image": "nginx:1.27"}).id for n in range(gateways)]
    counting = CountingStore(store)
    stream = MemoryStream(StreamConfig(stream=STREAM))
    cluster = MemoryCluster(rollout_seconds=0.2, latency_seconds=0.002)
    daemons = [
        build_provisioner(
            provisioner_settings(
                consumer=f"p{n}",
                workers=8,
                sweep_interval=0.2,
                heartbeat_interval=0.5,
                partition_lease_seconds=2,
            ),
            store=counting,  # type: ignore[arg-type]
            stream=stream,
            cluster=cluster,
        )
        for n in range(3)
    ]
    threads = [threading.Thread(target=daemon.run, daemon=True) for daemon in daemons]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    gateways_of = UnitOfWork(store).gateways
    while time.monotonic() < deadline:
        started = sum(1 for i in ids if (g := gateways_of.get(i)) and g.phase == Phase.STARTED)
        if started == len(ids):
            break
        time.sleep(0.2)
    for daemon in daemons:
        daemon.stop()
    for thread in threads:
        thread.join(timeout=30)
    assert started == len(ids), f"only {started} of {len(ids)} started"
    return counting.lost


def conflict_ratio(gateways: int, repeat: int, timeout: float) -> bool:
    print(f"compare-and-set conflicts, 3 provisioners, {gateways} gateways started:", flush=True)
    counts: dict[str, list[int]] = {"unpartitioned": [], "partitioned": []}
    for _ in range(repeat):
        for label, lost in counts.items():
            lost.append(conflicts(label == "partitioned", gateways, timeout))
            print(f"  {label:<14} {lost[-1]:6d} lost", flush=True)
    before, after = (statistics.median(counts[label]) for label in counts)
    passed = before > 0 and after <= 0.1 * before
    ratio = f"{after / before:.0%}" if before else "n/a (no conflict without partitions)"
    print(
        f"  medians: unpartitioned {before:.0f}, partitioned {after:.0f}: {ratio} "
        f"(target <= 10%) {verdict(passed)}",
        flush=True,
    )
    return passed


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drain-events", type=int, default=4000)
    parser.add_argument("--sweep-gateways", type=int, default=2000)
    parser.add_argument("--conflict-gateways", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--timeout", type=float, default=180, help="seconds for all to start")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    args = parser.parse_args(argv)
    if args.quick:
        vars(args).update(drain_events=300, sweep_gateways=80, conflict_gateways=20, repeat=1)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    single, cluster = RedisServer().start(), RedisClusterServers(masters=3).start()
    passed = []
    try:
        drained = relay_drain(single.client(), cluster.client(), args.drain_events, args.repeat)
        passed.append(drained)
    finally:
        cluster.close()
        single.close()
    passed.append(sweep_share(args.sweep_gateways))
    passed.append(conflict_ratio(args.conflict_gateways, args.repeat, args.timeout))
    return exit_status(passed, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
