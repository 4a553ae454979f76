"""Gateway creates per second through the writer, next to a raw baseline on the same store.

    python -m benchmarks.writer [--stores memory nx-27017] [--gateways 300] [--environments 2]
                                [--rounds 5] [--profile] [--quick]

Each store gets the same documents (gateway, its environments, one outbox event), with the same
indexes. On nx-27017 the baseline is raw pymongo inserting them in a bare transaction; in memory
it is raw mongomock inserting them without one. The writer additionally validates, checks the
name and host, and commits with its compare-and-set machinery. Targets: the writer costs at most
1.5x the baseline on nx-27017 and at most 2x in memory. Each round times the baseline and then
the writer on fresh collections; rates are the best round, the ratio the median of the rounds.
Exit status 1 when a target is missed; `--quick` (tiny sizes, one round) only checks that the
benchmark runs, not its timing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mongomock
from pymongo import MongoClient

from benchmarks.verdict import exit_status
from outbox.domain import transitions
from outbox.domain.events import OutboxEvent
from outbox.domain.model import Environment, EnvironmentState, GatewaySpec
from outbox.store.indexes import INDEXES
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import ENVIRONMENTS, GATEWAYS, OUTBOX, Store
from outbox.writer import Writer
from tests.support.servers import NxServer

TARGETS = {"memory": 2.0, "nx-27017": 1.5}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    gateways: int
    environments: int


def spec_of(n: int, sizes: Sizes) -> dict[str, Any]:
    return {
        "image": "nginx:1.27",
        "host": f"g{n}.example.com",
        "environments": [f"env{e}" for e in range(sizes.environments)],
    }


def documents_of(
    n: int, sizes: Sizes
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """What the writer stores for gateway n: built outside the timing, for the baseline."""
    spec = GatewaySpec.model_validate(spec_of(n, sizes))
    change = transitions.create(f"gw_{n:016x}", f"g{n}", spec, stopped=False, now=NOW)
    gateway_id = change.gateway.id
    environments = [
        Environment(
            id=Environment.key(gateway_id, name),
            gateway_id=gateway_id,
            name=name,
            state=EnvironmentState.INACTIVE,
        ).model_dump(by_alias=True)
        for name in spec.environments
    ]
    event = OutboxEvent.for_gateway(
        gateway_id, change.event_type, version=1, at=NOW, payload=change.payload
    )
    return change.gateway.to_document(), environments, event.to_document()


# -- the two sides -------------------------------------------------------------------------------


def writer_run(store: Store, sizes: Sizes) -> Callable[[], None]:
    writer = Writer(store)
    specs = [(f"g{n}", spec_of(n, sizes)) for n in range(sizes.gateways)]

    def run() -> None:
        for name, spec in specs:
            writer.create(name, spec)

    return run


def mongomock_baseline(sizes: Sizes) -> Callable[[], None]:
    database: Any = mongomock.MongoClient(tz_aware=False)["baseline"]
    for collection, keys, options in INDEXES:
        database[collection].create_index(list(keys), **options)
    batches = [documents_of(n, sizes) for n in range(sizes.gateways)]
    gateways, environments, outbox = database[GATEWAYS], database[ENVIRONMENTS], database[OUTBOX]

    def run() -> None:
        for gateway, envs, event in batches:
            gateways.insert_one(gateway)
            if envs:
                environments.insert_many(envs)
            outbox.insert_one(event)

    return run


def pymongo_baseline(uri: str, database_name: str, sizes: Sizes) -> Callable[[], None]:
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    database = client[database_name]
    batches = [documents_of(n, sizes) for n in range(sizes.gateways)]
    gateways, environments, outbox = database[GATEWAYS], database[ENVIRONMENTS], database[OUTBOX]

    def run() -> None:
        for gateway, envs, event in batches:
            with client.start_session() as session, session.start_transaction():
                gateways.insert_one(gateway, session=session)
                if envs:
                    environments.insert_many(envs, session=session)
                outbox.insert_one(event, session=session)

    return run


# -- measuring -----------------------------------------------------------------------------------


def timed(run: Callable[[], None], profile: cProfile.Profile | None = None) -> float:
    started = time.perf_counter()
    if profile is None:
        run()
    else:
        profile.runcall(run)
    return time.perf_counter() - started


@dataclass
class Result:
    store: str
    gateways: int
    writer_seconds: list[float]
    baseline_seconds: list[float]

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios: each pair ran back to back, so drifts cancel."""
        return statistics.median(
            w / b for w, b in zip(self.writer_seconds, self.baseline_seconds, strict=True)
        )

    @property
    def passed(self) -> bool:
        return self.ratio <= TARGETS[self.store]

    def rate(self, seconds: list[float]) -> float:
        return self.gateways / min(seconds)


def measure(
    store: str,
    sides: tuple[Callable[[], Callable[[], None]], Callable[[], Callable[[], None]]],
    sizes: Sizes,
    rounds: int,
    profile: cProfile.Profile | None,
) -> Result:
    fresh_writer, fresh_baseline = sides
    result = Result(store, sizes.gateways, [], [])
    for round_ in range(rounds):
        result.baseline_seconds.append(timed(fresh_baseline()))
        writer_profile = profile if round_ == rounds - 1 else None
        result.writer_seconds.append(timed(fresh_writer(), writer_profile))
    return result


def memory_result(sizes: Sizes, rounds: int, profile: cProfile.Profile | None) -> Result:
    sides = (lambda: writer_run(MemoryStore(), sizes), lambda: mongomock_baseline(sizes))
    return measure("memory", sides, sizes, rounds, profile)


@contextmanager
def nx_server() -> Iterator[NxServer]:
    server = NxServer().start()
    try:
        yield server
    finally:
        server.close()


BENCH_DATABASE = "bench"


def nx_result(sizes: Sizes, rounds: int, profile: cProfile.Profile | None) -> Result:
    with nx_server() as server:
        admin: MongoClient[dict[str, Any]] = MongoClient(server.uri)
        stores: list[MongoStore] = []

        def fresh_collections() -> MongoStore:
            # nx-27017 shares collections between databases: empty them, then index as `init` does.
            for name in (GATEWAYS, ENVIRONMENTS, OUTBOX):
                admin[BENCH_DATABASE][name].drop()
            store = MongoStore(server.uri, database=BENCH_DATABASE)
            store.ensure_indexes(retention_seconds=0)
            stores.append(store)
            return store

        def fresh_baseline() -> Callable[[], None]:
            # Into the collections just emptied: a round must not find the last round's rows.
            fresh_collections()
            return pymongo_baseline(server.uri, BENCH_DATABASE, sizes)

        try:
            sides = (lambda: writer_run(fresh_collections(), sizes), fresh_baseline)
            return measure("nx-27017", sides, sizes, rounds, profile)
        finally:
            for store in stores:
                store.close()
            admin.close()


def report(results: list[Result]) -> str:
    lines = [
        "gateway creates per second (best round) and the writer's cost relative to the baseline",
        f"{'store':<10} {'gateways':>8} {'writer/s':>10} {'baseline/s':>11} {'cost ratio':>11} "
        f"{'target':>8}  result",
    ]
    for r in results:
        lines.append(
            f"{r.store:<10} {r.gateways:>8} {r.rate(r.writer_seconds):>10.0f} "
            f"{r.rate(r.baseline_seconds):>11.0f} {r.ratio:>10.2f}x "
            f"{'<= ' + str(TARGETS[r.store]) + 'x':>8}  {'PASS' if r.passed else 'MISS'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--gateways", type=int, help="creates per round (300; quick: 10)")
    parser.add_argument("--environments", type=int, default=2, help="environments per gateway")
    parser.add_argument(
        "--rounds", type=int, help="rounds, each baseline then writer (5; quick: 1)"
    )
    parser.add_argument("--profile", action="store_true", help="print where the writer spends time")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round: check it runs, not its timing"
    )
    args = parser.parse_args(argv)
    sizes = Sizes(args.gateways or (10 if args.quick else 300), args.environments)
    rounds = args.rounds or (1 if args.quick else 5)

    results = []
    for store in args.stores:
        profile = cProfile.Profile() if args.profile else None
        run = memory_result if store == "memory" else nx_result
        results.append(run(sizes, rounds, profile))
        if profile is not None:
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
            print(f"--- writer profile, {store} (last round) ---\n{out.getvalue()}")
    print(report(results))
    return exit_status((result.passed for result in results), quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
