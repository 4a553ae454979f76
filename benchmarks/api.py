"""The HTTP API's cost over the Python writer, on the same nx-27017 store.

    python -m benchmarks.api [--gateways 200] [--requests 2000] [--warmup 100] [--rounds 5]
                             [--quick]

The API runs as its own process (`outbox api run`), as in production; one client keeps its
connection alive. The client is the standard library's `http.client`, the thinnest there is, so
that the figures are the API's cost: httpx (the tests' client) adds about 0.5 ms to every request
here, and about 1 ms to GET's p99, in the client's own process. Two figures, each a ratio
measured in the same run:

- creates per second over HTTP against `Writer.create` in this process: each round creates the
  same number of gateways both ways, on freshly emptied collections (the ratio is the median of
  the rounds; target >= 0.6x);
- p99 latency of `GET /v1/gateways/{ref}` against `Writer.get` on one gateway: after the warm-up,
  the requests alternate between the two in blocks of 100 (target <= 3x).

Exit status 1 when a target is missed; `--quick` (tiny sizes, one round) only checks that the
benchmark runs, not its timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.verdict import exit_status
from outbox.store.mongo.store import MongoStore
from outbox.store.port import ENVIRONMENTS, GATEWAYS, IDEMPOTENCY_KEYS, OUTBOX
from outbox.writer import Writer
from outbox_api.tokens import Role, Tokens
from tests.support.api import answers_ready
from tests.support.cli import OUTBOX as OUTBOX_COMMAND
from tests.support.cli import clean_env
from tests.support.servers import NxServer, free_port
from tests.support.waiting import wait_until

CREATE_TARGET = 0.6  # HTTP creates/s at least this fraction of the writer's
P99_TARGET = 3.0  # HTTP GET p99 at most this multiple of Writer.get's
BLOCK = 100
DATABASE = "bench"
SPEC = {"image": "nginx:1.27", "environments": ["prod", "dev"]}


@dataclass(frozen=True)
class Sizes:
    gateways: int
    requests: int
    warmup: int
    rounds: int


class Client:
    """One keep-alive connection to the API, with the bearer token on every request."""

    def __init__(self, base: str, bearer: str) -> None:
        url = urlsplit(base)
        self._connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
        self._headers = {"Authorization": f"Bearer {bearer}"}

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        """(status, body) of one request; `body`, when given, is sent as JSON."""
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self._connection.request(method, path, data, headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


@contextmanager
def api_process(server: NxServer, workdir: Path) -> Iterator[str]:
    """`outbox api run` on nx-27017; yields its base URL once it is ready."""
    port = free_port()
    env = clean_env(
        OUTBOX_MONGODB_URI=server.uri, OUTBOX_DATABASE=DATABASE, OUTBOX_API_PORT=str(port)
    )
    log = (workdir / "api.log").open("w")
    process = subprocess.Popen(
        [OUTBOX_COMMAND, "api", "run"], env=env, cwd=workdir, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"

    try:
        wait_until(lambda: answers_ready(base), "the API ready", timeout=60, interval=0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def emptied(store: MongoStore) -> None:
    """Fresh collections for a round (nx-27017 shares them between databases); tokens stay."""
    for name in (GATEWAYS, ENVIRONMENTS, OUTBOX, IDEMPOTENCY_KEYS):
        store.database[name].delete_many({})


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def create_all(write: Callable[[str], object], prefix: str, count: int) -> float:
    """Seconds to create `count` gateways named `<prefix>-<n>` with `write`."""

    def run() -> None:
        for n in range(count):
            write(f"{prefix}-{n}")

    return timed(run)


def server_seconds(client: Client, method: str, route: str) -> tuple[float, float]:
    """(count, total seconds) the API itself measured for a route, from its /metrics."""
    labels = {"method": method, "route": route}
    found = {"count": 0.0, "sum": 0.0}
    _, metrics = client.request("GET", "/metrics")
    for family in text_string_to_metric_families(metrics.decode()):
        for sample in family.samples:
            kind = sample.name.removeprefix("outbox_api_request_seconds_")
            if kind in found and all(sample.labels.get(k) == v for k, v in labels.items()):
                found[kind] += sample.value
    return found["count"], found["sum"]


def creates(store: MongoStore, client: Client, sizes: Sizes) -> list[float]:
    """Per round, HTTP seconds / writer seconds for the same number of creates."""
    writer = Writer(store)

    def over_http(name: str) -> None:
        status, body = client.request("POST", "/v1/gateways", {"name": name, "spec": SPEC})
        assert status == 201, body

    ratios = []
    for round_ in range(sizes.rounds):
        emptied(store)
        direct = create_all(lambda name: writer.create(name, SPEC), f"w{round_}", sizes.gateways)
        emptied(store)
        http = create_all(over_http, f"h{round_}", sizes.gateways)
        ratios.append(direct / http)  # = HTTP rate / writer rate
        print(
            f"  round {round_ + 1}: writer {sizes.gateways / direct:6.0f}/s, "
            f"HTTP {sizes.gateways / http:6.0f}/s"
        )
    return ratios


def latencies(store: MongoStore, client: Client, sizes: Sizes) -> tuple[list[float], list[float]]:
    emptied(store)
    writer = Writer(store)
    gateway = writer.create("probe", SPEC)
    path = f"/v1/gateways/{gateway.id}"

    def direct() -> None:
        writer.get(gateway.id)

    def http() -> None:
        status, body = client.request("GET", path)
        assert status == 200, body

    for _ in range(sizes.warmup):
        direct()
        http()
    direct_seconds: list[float] = []
    http_seconds: list[float] = []
    for start in range(0, sizes.requests, BLOCK):
        count = min(BLOCK, sizes.requests - start)
        direct_seconds += [timed(direct) for _ in range(count)]
        http_seconds += [timed(http) for _ in range(count)]
    return direct_seconds, http_seconds


def p99(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=100, method="inclusive")[98]


def run(sizes: Sizes) -> tuple[float, float]:
    server = NxServer().start()
    store = MongoStore(server.uri, database=DATABASE)
    try:
        store.ensure_indexes(retention_seconds=0)
        bearer = Tokens(store).create("bench", Role.WRITER).bearer
        with (
            tempfile.TemporaryDirectory() as workdir,
            api_process(server, Path(workdir)) as base,
            closing(Client(base, bearer)) as client,
        ):
            print(f"creates: {sizes.gateways} per side per round, {sizes.rounds} rounds")
            create_ratio = statistics.median(creates(store, client, sizes))
            count, total = server_seconds(client, "POST", "/v1/gateways")
            print(f"  inside the API: {total / count * 1000:.2f} ms per create (its /metrics)")
            direct, http = latencies(store, client, sizes)
        direct_p99, http_p99 = p99(direct), p99(http)
        print(f"GET: {sizes.requests} each after {sizes.warmup} warm-up, alternating by {BLOCK}")
        print(f"  Writer.get p99 {direct_p99 * 1000:.2f} ms, HTTP GET p99 {http_p99 * 1000:.2f} ms")
        return create_ratio, http_p99 / direct_p99
    finally:
        store.close()
        server.close()


def report(create_ratio: float, p99_ratio: float) -> tuple[str, bool]:
    create_ok, p99_ok = create_ratio >= CREATE_TARGET, p99_ratio <= P99_TARGET
    lines = [
        f"{'figure':<44} {'ratio':>7} {'target':>8}  result",
        f"{'HTTP creates/s vs Writer.create (median)':<44} {create_ratio:>6.2f}x "
        f"{'>= ' + str(CREATE_TARGET) + 'x':>8}  {'PASS' if create_ok else 'MISS'}",
        f"{'HTTP GET p99 vs Writer.get p99':<44} {p99_ratio:>6.2f}x "
        f"{'<= ' + str(P99_TARGET) + 'x':>8}  {'PASS' if p99_ok else 'MISS'}",
    ]
    return "\n".join(lines), create_ok and p99_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", type=int, help="creates per side per round (200; quick: 10)")
    parser.add_argument("--requests", type=int, help="GETs per side (2000; quick: 50)")
    parser.add_argument("--warmup", type=int, help="GETs per side first (100; quick: 5)")
    parser.add_argument("--rounds", type=int, help="create rounds (5; quick: 1)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round: check it runs, not its timing"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = Sizes(
        gateways=args.gateways or (10 if quick else 200),
        requests=args.requests or (50 if quick else 2000),
        warmup=args.warmup or (5 if quick else 100),
        rounds=args.rounds or (1 if quick else 5),
    )
    text, passed = report(*run(sizes))
    print(text)
    return exit_status([passed], quick=quick)


if __name__ == "__main__":
    sys.exit(main())
