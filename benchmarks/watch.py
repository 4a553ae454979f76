"""Watch, don't poll: the provisioner with its watch-fed cache against polling, in one run.

    .venv/bin/python -m benchmarks.watch            # full size (about five minutes)
    .venv/bin/python -m benchmarks.watch --quick    # tiny: it runs, timing not checked

Each figure runs twice, OUTBOX_CLUSTER_CACHE=on and off, against the API server emulator as a
process (`tests.support.k8s_emulator`, over HTTP with the real Kubernetes adapter), a private
redis-server, and a provisioner process of its own (`benchmarks.watch_provisioner`):

- API requests per minute at rest with 1,000 Started gateways, resync every 30 s, read from the
  emulator's request log over 60 s opened between two resyncs. Target: watch <= 1% of polling.
- 100 gateways created through the writer and the relay, 10 a second, a 1 s rollout: Started
  commits that a watch event brought (`outbox_provisioner_step_triggers_total`; sweep every
  hour; target >= 99), and rollout complete -> Started, from the emulator's completion time to
  the gateway's phase_changed_at. Polling sweeps every 5 s (the default). Target: watch p99
  <= 0.1x polling p50. (All 100 at once instead, their Started commits queue behind each
  other on the in-memory store's one lock: p99 0.6-1.2 s on 2 shared cores.)
- A Deployment of a Started gateway deleted behind the provisioner's back -> applied again, from
  the removal to the emulator's log of the PATCH; 20 removals 0.5 s apart, resync every 10 s.
  Target: watch p99 <= 0.1x polling p50.
- Resident memory with the cache holding 0, 1,000 and 10,000 gateways (Deployment and Service
  each): (RSS 10,000 - RSS 0) / (RSS 1,000 - RSS 0) <= 12, with KiB per gateway.

The store is the in-memory one, inside the provisioner process, seeded there: nx-27017 serves
one transactional client at a time, so a provisioner on it must run with one worker, and then 100
rollouts completing together queue behind each other and the lag measures the store, not the
watch; seeding 10,000 gateways over its wire would also take minutes. Every figure here is about
the cluster side, which is the real adapter over HTTP either way. The exit status is 1 on a MISS
(never with `--quick`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.verdict import exit_status
from provisioner.manifests import object_names
from tests.support import started
from tests.support.emulator_process import EmulatorProcess
from tests.support.provisioner_process import ProvisionerProcess
from tests.support.servers import RedisServer
from tests.support.waiting import wait_until

MODES = ("on", "off")  # OUTBOX_CLUSTER_CACHE: the watch, and polling
START_TIMEOUT = 600
PUT_BATCH = 1000
RESYNCS = "outbox_provisioner_resyncs_total"
STEPS = "outbox_provisioner_steps_total"
STEP_TRIGGERS = "outbox_provisioner_step_triggers_total"


@dataclass(frozen=True)
class Sizes:
    rest_gateways: int = 1000
    rest_resync: float = 30.0
    rest_window: float = 60.0
    lag_gateways: int = 100
    rate: float = 10.0
    rollout: float = 1.0
    polling_sweep: float = 5.0
    drift_gateways: int = 100
    removals: int = 20
    removal_gap: float = 0.5
    drift_resync: float = 10.0
    rss_sizes: tuple[int, int] = (1000, 10_000)


QUICK = Sizes(20, 1.0, 2.0, 5, 10.0, 0.2, 1.0, 5, 3, 0.2, 1.0, (50, 200))


@dataclass
class Stand:
    emulator: EmulatorProcess
    provisioner: ProvisionerProcess
    dump: Path

    def gateways(self) -> dict[str, tuple[str, float]]:
        """Name -> (phase, when it entered it), as the provisioner left them at exit."""
        return {
            name: (phase, at) for name, (phase, at) in json.loads(self.dump.read_text()).items()
        }


@contextmanager
def stand(
    redis: RedisServer,
    *,
    cache: str,
    objects_of: int = 0,
    started_gateways: int = 0,
    create: tuple[int, float] = (0, 0.0),
    rollout: float = 0.0,
    **env: str,
) -> Iterator[Stand]:
    """An emulator holding the objects of `objects_of` Started gateways, and a ready provisioner
    whose store holds `started_gateways` Started ones, and which then creates `create` (how
    many, how many a second) through the pipeline."""
    redis.client().flushall()
    directory = Path(tempfile.mkdtemp(prefix="outbox-watch-bench-"))
    emulator = EmulatorProcess(directory, rollout_seconds=rollout).start()
    dump = directory / "gateways.json"
    try:
        manifests = started.objects(started.gateways(objects_of), start_timeout=START_TIMEOUT)
        for first in range(0, len(manifests), PUT_BATCH):
            emulator.put(manifests[first : first + PUT_BATCH])
        command = [sys.executable, "-m", "benchmarks.watch_provisioner", "--dump", str(dump)]
        command += ["--started", str(started_gateways)]
        command += ["--create", str(create[0]), "--rate", str(create[1] or 1)]
        provisioner = ProvisionerProcess(
            emulator, directory, command=command, PYTHONPATH=str(Path(__file__).parents[1]),
            OUTBOX_REDIS_URL=redis.url, OUTBOX_CLUSTER_CACHE=cache,
            OUTBOX_START_TIMEOUT=str(START_TIMEOUT), **env,
        )  # fmt: skip
        provisioner.start(timeout=120)
        try:
            yield Stand(emulator, provisioner, dump)
        finally:
            provisioner.close()
    finally:
        emulator.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- the figures ----------------------------------------------------------------------------------


def requests_at_rest(redis: RedisServer, cache: str, sizes: Sizes) -> float:
    """API requests per minute, over a window opened halfway between two resyncs."""
    n = sizes.rest_gateways
    with stand(
        redis, cache=cache, objects_of=n, started_gateways=n,
        OUTBOX_RESYNC_INTERVAL=str(sizes.rest_resync),
        OUTBOX_SWEEP_INTERVAL=str(min(5.0, sizes.rest_resync)),  # a resync waits for a sweep
    ) as s:  # fmt: skip
        wait_until(lambda: s.provisioner.metric(RESYNCS) > 0, "a resync", timeout=60)
        time.sleep(sizes.rest_resync / 2)
        opened = len(s.emulator.requests())
        time.sleep(sizes.rest_window)
        sent = len(s.emulator.requests()) - opened
    return sent / sizes.rest_window * 60


@dataclass
class ToStarted:
    lags: list[float]
    by_watch: float  # Started commits of a reconcile that a watch event brought


def to_started(redis: RedisServer, cache: str, sizes: Sizes) -> ToStarted:
    n = sizes.lag_gateways
    sweep = 3600 if cache == "on" else sizes.polling_sweep
    with stand(
        redis, cache=cache, create=(n, sizes.rate), rollout=sizes.rollout,
        OUTBOX_SWEEP_INTERVAL=str(sweep), OUTBOX_RESYNC_INTERVAL="3600",
    ) as s:  # fmt: skip
        wait_until(
            lambda: s.provisioner.metric(STEPS, phase="Started") >= n,
            "every gateway Started",
            timeout=60 + 2 * sweep * (cache == "off"),
            interval=0.2,
        )
        by_watch = s.provisioner.metric(STEP_TRIGGERS, phase="Started", trigger="watch")
        completed = s.emulator.rollouts_completed()
    gateways = s.gateways()
    lags = [
        at - completed[object_names(name)["Deployment"]]
        for name, (phase, at) in gateways.items()
        if phase == "Started"
    ]
    return ToStarted(lags, by_watch)


def repair_lags(redis: RedisServer, cache: str, sizes: Sizes) -> list[float]:
    """Seconds from removing a Started gateway's Deployment to its PATCH."""
    n = sizes.drift_gateways
    with stand(
        redis, cache=cache, objects_of=n, started_gateways=n,
        OUTBOX_RESYNC_INTERVAL=str(sizes.drift_resync),
        OUTBOX_SWEEP_INTERVAL=str(min(5.0, sizes.drift_resync)),
    ) as s:  # fmt: skip
        wait_until(lambda: s.provisioner.metric(RESYNCS) > 0, "a resync", timeout=60)
        removed: dict[str, float] = {}
        for n in range(sizes.removals):
            name = object_names(f"g{n}")["Deployment"]
            removed[name] = time.time()
            s.emulator.remove("Deployment", name)
            time.sleep(sizes.removal_gap)
        wait_until(
            lambda: len(patched(s.emulator, removed)) == len(removed),
            "every Deployment applied again",
            timeout=3 * sizes.drift_resync + 30,
            interval=0.2,
        )
        return list(patched(s.emulator, removed).values())


def patched(emulator: EmulatorProcess, removed: dict[str, float]) -> dict[str, float]:
    """Per removed Deployment, seconds until the first PATCH of it after the removal."""
    lags: dict[str, float] = {}
    for request in emulator.requests():
        name, at = request["name"], request["at"]
        # The first PATCH after the removal (the seeding's own puts are not PATCHes).
        if request["method"] == "PATCH" and name in removed and name not in lags:
            lags[name] = at - removed[name]
    return lags


def rss_kib(redis: RedisServer, gateways: int) -> int:
    """The provisioner's resident memory once its cache holds `gateways` gateways' objects."""
    with stand(redis, cache="on", objects_of=gateways) as s:
        wait_until(
            lambda: s.provisioner.metric("outbox_provisioner_cache_objects") >= 2 * gateways,
            "the cache filled",
            timeout=120,
            interval=0.2,
        )
        time.sleep(1.0)  # what the list left behind is freed
        return s.provisioner.rss_kib()


# -- report ---------------------------------------------------------------------------------------


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report_rest(rates: dict[str, float]) -> bool:
    share = rates["on"] / rates["off"] if rates["off"] else float("inf")
    passed = share <= 0.01
    print(
        f"API requests/min at rest: watch {rates['on']:.1f}, polling {rates['off']:.1f} "
        f"= {share:.2%} (target <= 1%) {verdict(passed)}"
    )
    return passed


def report_started(runs: dict[str, ToStarted], total: int) -> bool:
    watch, polling = runs["on"], runs["off"]
    counted = watch.by_watch >= 0.99 * total
    print(
        f"Started commits brought by a watch event: {watch.by_watch:.0f} of {total} "
        f"(sweep every hour) (target >= 99%) {verdict(counted)}"
    )
    return ratio("rollout complete -> Started", watch.lags, polling.lags) and counted


def ratio(what: str, watch: list[float], polling: list[float]) -> bool:
    p99, p50 = percentile(watch, 0.99), statistics.median(polling)
    share = p99 / p50 if p50 > 0 else float("inf")
    passed = share <= 0.1
    print(
        f"{what}: watch p50 {statistics.median(watch) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
        f"polling p50 {p50 * 1000:.0f} ms = {share:.3f}x (target <= 0.1x) {verdict(passed)}"
    )
    return passed


def report_rss(rss: dict[int, int], sizes: tuple[int, int]) -> bool:
    small, large = sizes
    growth = (rss[large] - rss[0]) / max(1, rss[small] - rss[0])
    passed = growth <= 12
    print(
        f"RSS: empty {rss[0] / 1024:.1f} MiB, {small:,} gateways {rss[small] / 1024:.1f} MiB, "
        f"{large:,} {rss[large] / 1024:.1f} MiB; {(rss[large] - rss[0]) / large:.1f} KiB per "
        f"gateway; growth {growth:.1f}x for {large // small}x the gateways (target <= 12) "
        f"{verdict(passed)}"
    )
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: check it runs, not its timing"
    )
    options = parser.parse_args(argv)
    sizes = QUICK if options.quick else Sizes()
    redis = RedisServer().start()
    try:
        rest = {mode: requests_at_rest(redis, mode, sizes) for mode in MODES}
        runs = {mode: to_started(redis, mode, sizes) for mode in MODES}
        repairs = {mode: repair_lags(redis, mode, sizes) for mode in MODES}
        rss = {n: rss_kib(redis, n) for n in (0, *sizes.rss_sizes)}
    finally:
        redis.close()
    passed = [
        report_rest(rest),
        report_started(runs, sizes.lag_gateways),
        ratio("Deployment deleted -> applied again", repairs["on"], repairs["off"]),
        report_rss(rss, sizes.rss_sizes),
    ]
    return exit_status(passed, quick=options.quick)


if __name__ == "__main__":
    sys.exit(main())
