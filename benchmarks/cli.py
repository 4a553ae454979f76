"""How fast the `outbox` command answers, against baselines run as processes in the same run.

    .venv/bin/python -m benchmarks.cli            # 10 interleaved rounds per figure
    .venv/bin/python -m benchmarks.cli --quick    # one round: it runs, timing not checked

Each figure is the median of its interleaved rounds (the machine is shared and noisy):

- `outbox --help` vs `python -c "import click, pydantic"`: the start-up of the command against
  the two libraries it cannot do without. Target: <= 2x.
- `outbox gateway get X` against nx-27017 vs a plain pymongo script run as a process that opens
  a client, reads the gateway with `find_one` and closes. Target: <= 1.2x.
- `outbox gateway create ... --wait` on an idle system: a relay and a provisioner process
  (Kubernetes adapter, watch-fed cache) against the API server emulator process, whose rollouts
  take 1 s. The time beyond the rollout vs one `outbox gateway get`. Target: <= 1.5x.

The exit status is 1 on a MISS (never with `--quick`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from outbox.store.mongo.store import MongoStore
from outbox.writer import Writer
from tests.support.cli import OUTBOX, ROOT, clean_env
from tests.support.emulator_process import EmulatorProcess
from tests.support.pipeline import Pipeline
from tests.support.servers import NxServer, RedisServer

ROLLOUT_SECONDS = 1.0
FIND_ONE = """
import sys
from pymongo import MongoClient
client = MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)
client[sys.argv[2]]["gateways"].find_one({"live_name": sys.argv[3]})
client.close()
"""


@dataclass(frozen=True)
class Figure:
    name: str
    ours: list[float]
    baseline: list[float]
    target: float
    ours_offset: float = 0.0  # subtracted from ours (the rollout the wait spends idle)

    @property
    def ratio(self) -> float:
        ours = statistics.median(self.ours) - self.ours_offset
        return ours / statistics.median(self.baseline)

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target


def seconds(command: list[str], *, env: dict[str, str], cwd: Path, expect: int = 0) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if done.returncode != expect:
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr}")
    return took


def interleaved(
    rounds: int, ours: Callable[[int], float], baseline: Callable[[int], float]
) -> tuple[list[float], list[float]]:
    """Alternate the two, baseline first, so that load in between hits both alike."""
    mine, theirs = [], []
    for index in range(rounds):
        theirs.append(baseline(index))
        mine.append(ours(index))
    return mine, theirs


def help_figure(rounds: int, cwd: Path) -> Figure:
    env = clean_env()
    ours, baseline = interleaved(
        rounds,
        lambda _: seconds([OUTBOX, "--help"], env=env, cwd=cwd),
        lambda _: seconds([sys.executable, "-c", "import click, pydantic"], env=env, cwd=cwd),
    )
    return Figure("outbox --help vs import click, pydantic", ours, baseline, 2.0)


def get_figure(rounds: int, nx: NxServer, cwd: Path) -> Figure:
    store = MongoStore(nx.uri, database="outbox", timeout_seconds=5)
    store.ensure_indexes(retention_seconds=0)
    if not store.collection("gateways").find_one({"live_name": "bench-get"}):
        Writer(store).create("bench-get", {"image": "nginx:1.27"})
    store.close()
    env = clean_env(OUTBOX_MONGODB_URI=nx.uri, OUTBOX_DATABASE="outbox")
    ours, baseline = interleaved(
        rounds,
        lambda _: seconds([OUTBOX, "gateway", "get", "bench-get"], env=env, cwd=cwd),
        lambda _: seconds(
            [sys.executable, "-c", FIND_ONE, nx.uri, "outbox", "bench-get"], env=env, cwd=cwd
        ),
    )
    return Figure("outbox gateway get X vs a pymongo find_one script", ours, baseline, 1.2)


@contextmanager
def idle_system(nx: NxServer, cwd: Path) -> Iterator[Pipeline]:
    emulator = EmulatorProcess(cwd, rollout_seconds=ROLLOUT_SECONDS).start()
    redis = RedisServer().start()
    pipeline = Pipeline(
        nx, redis, cwd, "outbox",
        KUBECONFIG=str(emulator.kubeconfig), OUTBOX_CLUSTER="kubernetes",
    )  # fmt: skip
    try:
        yield pipeline.start()
    finally:
        pipeline.stop()
        redis.close()
        emulator.close()


def wait_figure(rounds: int, nx: NxServer, cwd: Path) -> Figure:
    with idle_system(nx, cwd) as pipeline:
        create = [OUTBOX, "gateway", "create"]
        # One unmeasured round: the daemons' first batch and the cluster cache warm up.
        seconds([*create, "warm-up", "--image", "nginx", "--wait"], env=pipeline.env, cwd=cwd)
        ours, baseline = interleaved(
            rounds,
            lambda i: seconds(
                [*create, f"bench-{i}", "--image", "nginx", "--wait"], env=pipeline.env, cwd=cwd
            ),
            lambda _: seconds([OUTBOX, "gateway", "get", "warm-up"], env=pipeline.env, cwd=cwd),
        )
    return Figure(
        "create --wait beyond the 1 s rollout vs one gateway get",
        ours,
        baseline,
        1.5,
        ours_offset=ROLLOUT_SECONDS,
    )


def report(figures: list[Figure]) -> str:
    lines = [
        f"{'figure':<58} {'ours':>8} {'baseline':>9} {'ratio':>7} {'target':>8}  result",
    ]
    for f in figures:
        ours = statistics.median(f.ours) - f.ours_offset
        lines.append(
            f"{f.name:<58} {ours * 1000:>6.0f}ms {statistics.median(f.baseline) * 1000:>7.0f}ms "
            f"{f.ratio:>6.2f}x {'<= ' + str(f.target) + 'x':>8}  {'PASS' if f.passed else 'MISS'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="interleaved rounds per figure (10; quick: 1)")
    parser.add_argument(
        "--quick", action="store_true", help="one round: check it runs, not its timing"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 10)
    nx = NxServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cli-") as directory:
            cwd = Path(directory)  # no .env there
            figures = [
                help_figure(rounds, cwd),
                get_figure(rounds, nx, cwd),
                wait_figure(rounds, nx, cwd),
            ]
    finally:
        nx.close()
    print(f"median of {rounds} interleaved round(s) each, run from {ROOT}")
    print(report(figures))
    if args.quick:
        print("quick run: it ran; one round says nothing about the targets")
    return 0 if args.quick or all(figure.passed for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
