"""Gateways Started per second: the worker pool against one worker, in the same run.

    python -m benchmarks.provisioner [--gateways 500] [--workers 32] [--latency 0.02]
                                     [--rollout 0.5] [--cluster-cache off] [--quick]

Real Redis (a private redis-server), the in-memory store, the in-memory cluster with `latency`
seconds per API call and a `rollout`-second rollout; the real relay and provisioner daemons on
their own threads. The pool run creates `gateways` at once; the baseline run creates a tenth as
many with one worker. Each run reports where the handlers' time went: store, cluster, Redis, and
the rest (our code). Target: the pool at least 10x the single worker's rate; the exit status is
1 on a MISS. `--quick` (tiny sizes) only checks that the benchmark runs, not its timing.

The cluster cache is off by default here (OUTBOX_CLUSTER_CACHE=off): every step then calls the
API, which is what the pool overlaps, so the ratio measures the pool. With the cache on, a step
rarely calls the API and the in-memory store's single lock bounds the pool instead; what the
cache gains is measured by `benchmarks.watch`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.verdict import exit_status
from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.store.port import Collections
from outbox.store.repository import UnitOfWork
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from provisioner.factory import build_provisioner
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.support.servers import RedisServer

TARGET = 10.0


class Timings:
    """Seconds spent in each backend by the pool's workers, summed over the workers.

    Calls made elsewhere (the consumer loop's blocking reads) are counted apart, so the shares
    describe the handlers' time. Store time includes waiting for the in-memory store's lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.elsewhere: dict[str, float] = defaultdict(float)
        self._depth = threading.local()

    def timed(self, category: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "value", 0)
            self._depth.value = depth + 1
            began = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self._depth.value = depth
                if depth == 0:  # a store call inside a transaction is counted once
                    worker = threading.current_thread().name.startswith("gateway-")
                    with self._lock:
                        bucket = self.seconds if worker else self.elsewhere
                        bucket[category] += time.perf_counter() - began

        return wrapper


class TimedProxy:
    def __init__(self, inner: Any, category: str, timings: Timings) -> None:
        self._inner = inner
        self._category = category
        self._timings = timings

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        return self._timings.timed(self._category, value) if callable(value) else value


class TimedStore(TimedProxy):
    def collection(self, name: str) -> Any:
        return TimedProxy(self._inner.collection(name), "store", self._timings)

    def transaction(self, work: Callable[[Collections], Any]) -> Any:
        return self._timings.timed("store", self._inner.transaction)(work)


@dataclass
class Result:
    gateways: int
    workers: int
    seconds: float
    handler_seconds: float
    timings: dict[str, float]
    elsewhere: dict[str, float]

    @property
    def rate(self) -> float:
        return self.gateways / self.seconds


def run(
    server: RedisServer,
    *,
    gateways: int,
    workers: int,
    latency: float,
    rollout: float,
    cluster_cache: str = "off",
) -> Result:
    client = server.client()
    client.flushall()
    timings = Timings()
    store = MemoryStore()
    cluster = MemoryCluster(namespace="bench", rollout_seconds=rollout, latency_seconds=latency)
    provisioner = build_provisioner(
        ProvisionerSettings(  # type: ignore[call-arg]
            _env_file=None,
            consumer="bench",
            workers=workers,
            sweep_interval=0.1,
            resync_interval=3600,
            cluster_cache=cluster_cache,
            metrics_port=0,
            start_timeout=600,
        ),
        store=TimedStore(store, "store", timings),  # type: ignore[arg-type]
        stream=RedisStream(TimedProxy(client, "redis", timings)),  # type: ignore[arg-type]
        cluster=TimedProxy(cluster, "cluster", timings),  # type: ignore[arg-type]
    )
    relay = build_relay(
        RelaySettings(_env_file=None, metrics_port=0, relay_id="bench"),  # type: ignore[call-arg]
        store=store,
        stream=RedisStream(server.client()),
    )
    threads = [
        threading.Thread(target=relay.run, daemon=True),
        threading.Thread(target=provisioner.run, daemon=True),
    ]
    for thread in threads:
        thread.start()
    writer = Writer(store)
    began = time.perf_counter()
    for n in range(gateways):
        writer.create(f"g{n}", {"image": "nginx:1.27"})
    while UnitOfWork(store).gateways.list(phase=Phase.STARTED, limit=0).__len__() < gateways:
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    handler = provisioner.metrics.reconcile_seconds.collect()[0]
    handler_seconds = next(s.value for s in handler.samples if s.name.endswith("_sum"))
    relay.stop()
    provisioner.stop()
    for thread in threads:
        thread.join(15)
    return Result(
        gateways, workers, seconds, handler_seconds, dict(timings.seconds), dict(timings.elsewhere)
    )


def report(label: str, result: Result) -> None:
    print(
        f"{label}: {result.gateways} gateways, {result.workers} workers: "
        f"{result.seconds:.2f} s, {result.rate:.1f} Started/s"
    )
    total = result.handler_seconds or 1e-9
    # Reconciling calls the store and the cluster; the workers' Redis calls (acks) come after.
    in_reconcile = result.timings.get("store", 0.0) + result.timings.get("cluster", 0.0)
    parts = {**result.timings, "our code": max(0.0, total - in_reconcile)}
    shares = ", ".join(
        f"{name} {seconds:.2f} s ({seconds / total:.0%})" for name, seconds in parts.items()
    )
    print(f"  reconcile time {total:.2f} s, and where the workers spent theirs: {shares}")
    outside = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.elsewhere.items())
    print(f"  outside the workers (consumer loop, sweeps): {outside}")


QUICK = {"gateways": 20, "workers": 4, "latency": 0.002, "rollout": 0.05}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--rollout", type=float, default=0.5)
    parser.add_argument("--cluster-cache", choices=["off", "on"], default="off")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: check it runs, not its timing"
    )
    options = parser.parse_args(argv)
    if options.quick:
        vars(options).update(QUICK)
    server = RedisServer().start()
    try:
        pool = run(
            server,
            gateways=options.gateways,
            workers=options.workers,
            latency=options.latency,
            rollout=options.rollout,
            cluster_cache=options.cluster_cache,
        )
        single = run(
            server,
            gateways=max(1, options.gateways // 10),
            workers=1,
            latency=options.latency,
            rollout=options.rollout,
            cluster_cache=options.cluster_cache,
        )
    finally:
        server.close()
    report("pool    ", pool)
    report("baseline", single)
    ratio = pool.rate / single.rate
    passed = ratio >= TARGET
    result = "PASS" if passed else "MISS"
    print(f"pool / single worker: {ratio:.1f}x (target >= {TARGET:.0f}x) {result}")
    return exit_status([passed], quick=options.quick)


if __name__ == "__main__":
    sys.exit(main())
