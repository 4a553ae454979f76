"""Each daemon's own metrics and health endpoints, scraped from the real processes.

Both daemons run as `outbox … run` against nx-27017 and a private redis-server; stopping that
Redis must turn both readiness probes to 503 while liveness stays 200, and SIGTERM ends both
with status 0. Their `/metrics` expose every metric the README names (its table and its alert
rules), the process's own metrics, and no `*_created` series. A metrics port already in use is
a one-line error naming the port and the variable.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from outbox.store.mongo.store import MongoStore
from outbox.writer import Writer
from outbox_cli.main import cli
from tests.support.cli import OUTBOX, clean_env, nx_daemon_env, run_outbox
from tests.support.readme import documented_metrics, metric_kinds
from tests.support.servers import PRODUCT_COLLECTIONS, NxServer, RedisServer, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def daemon_env(nx_server: NxServer, redis_server: RedisServer) -> dict[str, str]:
    """Both daemons on these servers, the in-memory cluster, and short intervals."""
    return nx_daemon_env(
        nx_server,
        "outbox",
        redis_server.url,
        OUTBOX_CLUSTER="memory",
        OUTBOX_MEMORY_ROLLOUT="0.2",
        OUTBOX_SWEEP_INTERVAL="0.2",
        OUTBOX_GRACE_SECONDS="3",
    )


def test_both_daemons_serve_metrics_and_readiness_follows_redis(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    redis_server = RedisServer().start()  # its own: this test stops it
    Writer(nx_store).create("edge", {"image": "nginx:1.27"})
    ports = {"relay": free_port(), "provisioner": free_port()}
    base_env = daemon_env(nx_server, redis_server)
    processes = {
        name: subprocess.Popen(
            [OUTBOX, name, "run"],
            cwd=tmp_path,
            env={**base_env, "OUTBOX_METRICS_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, port in ports.items()
    }
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        wait_until(
            lambda: (
                'outbox_gateways{phase="Started"} 1.0' in get(url["provisioner"] + "/metrics")[1]
            ),
            "the gateway counted as Started",
            timeout=30,
            interval=0.1,
        )
        # The sweeper starts the gateway without the relay, which may still be starting.
        wait_until(
            lambda: "outbox_relay_published_total" in get(url["relay"] + "/metrics")[1],
            "the relay serving its metrics",
            timeout=30,
            interval=0.1,
        )
        for name in ports:
            assert get(url[name] + "/healthz")[0] == 200
            assert get(url[name] + "/readyz")[0] == 200

        redis_server.stop()
        for name in ports:
            wait_until(
                lambda name=name: get(url[name] + "/readyz")[0] == 503,
                f"{name} not ready",
                timeout=30,
                interval=0.1,
            )
            assert "redis" in get(url[name] + "/readyz")[1]
            assert get(url[name] + "/healthz")[0] == 200  # an outage is no reason to restart

        redis_server.start()
        for name in ports:
            wait_until(
                lambda name=name: get(url[name] + "/readyz")[0] == 200,
                f"{name} ready again",
                timeout=30,
                interval=0.1,
            )
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=30) for name, process in processes.items()}
        redis_server.close()
    assert codes == {"relay": 0, "provisioner": 0}, {
        name: process.stderr.read() if process.stderr else "" for name, process in processes.items()
    }


# -- what /metrics exposes -------------------------------------------------------------------

DAEMONS = ("relay", "provisioner")


def exposed(body: str) -> dict[str, str]:
    """Metric name -> type, from the TYPE lines (present even before a labelled series has its
    first sample) and the sample lines of a Prometheus text exposition."""
    kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.MULTILINE))
    for sample in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", body, re.MULTILINE):
        kinds.setdefault(sample, "sample")
    return kinds


@pytest.fixture(scope="module")
def scraped(
    nx_server: NxServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Each daemon's /metrics once the gateway is Started, scraped from the running processes
    (the provisioner's port given with --metrics-port, the relay's with the variable)."""
    if redis_server.process is None:
        redis_server.start()
    store = MongoStore(nx_server.uri, database="outbox", timeout_seconds=5)
    for name in PRODUCT_COLLECTIONS:
        store.database[name].delete_many({})
    store.ensure_indexes(retention_seconds=0)
    Writer(store).create("edge", {"image": "nginx:1.27"})
    store.close()
    ports = {"relay": free_port(), "provisioner": free_port()}
    env = daemon_env(nx_server, redis_server)
    commands = {
        "relay": [OUTBOX, "relay", "run"],
        "provisioner": [OUTBOX, "provisioner", "run", "--metrics-port", str(ports["provisioner"])],
    }
    envs = {"relay": {**env, "OUTBOX_METRICS_PORT": str(ports["relay"])}, "provisioner": env}
    cwd = tmp_path_factory.mktemp("daemons")
    processes = {
        name: subprocess.Popen(
            commands[name],
            cwd=cwd,
            env=envs[name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in DAEMONS
    }
    url = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    try:
        wait_until(
            lambda: 'outbox_gateways{phase="Started"} 1.0' in get(url["provisioner"])[1],
            "the gateway counted as Started",
            timeout=30,
            interval=0.1,
        )
        # Under load the relay may still be starting when the sweep has started the gateway.
        wait_until(lambda: get(url["relay"])[0] == 200, "the relay serving", timeout=30)
        return {name: get(url[name])[1] for name in DAEMONS}
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.communicate(timeout=30)


def test_every_metric_the_readme_names_is_exposed_by_a_running_daemon(
    scraped: dict[str, str],
) -> None:
    available = {**exposed(scraped["relay"]), **exposed(scraped["provisioner"])}

    assert documented_metrics() - set(available) == set()
    kinds = {name: available[name] for name in metric_kinds()}
    assert kinds == metric_kinds(), "the README's kind column disagrees with the TYPE lines"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_each_daemon_exports_its_process_memory_cpu_and_open_files(
    scraped: dict[str, str], daemon: str
) -> None:
    samples = dict(re.findall(r"^(process_[a-z_]+) (\S+)$", scraped[daemon], re.MULTILINE))

    assert float(samples["process_resident_memory_bytes"]) > 10_000_000
    assert float(samples["process_cpu_seconds_total"]) > 0
    assert float(samples["process_open_fds"]) > 3


@pytest.mark.parametrize("daemon", DAEMONS)
def test_no_created_series_are_exported(scraped: dict[str, str], daemon: str) -> None:
    assert "outbox_" in scraped[daemon]
    assert [line for line in scraped[daemon].splitlines() if "_created" in line] == []


# -- the metrics port ------------------------------------------------------------------------


@pytest.fixture
def port_in_use() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(("daemon", "given_by"), [("relay", "variable"), ("provisioner", "option")])
def test_a_metrics_port_in_use_is_one_line_naming_the_port_and_the_variable_and_exit_2(
    nx_server: NxServer,
    redis_server: RedisServer,
    port_in_use: int,
    tmp_path: Path,
    daemon: str,
    given_by: str,
) -> None:
    env = clean_env(
        OUTBOX_MONGODB_URI=nx_server.uri, OUTBOX_REDIS_URL=redis_server.url, OUTBOX_CLUSTER="memory"
    )
    if given_by == "variable":
        args: list[str] = []
        env["OUTBOX_METRICS_PORT"] = str(port_in_use)
    else:
        args = ["--metrics-port", str(port_in_use)]

    result = run_outbox("--log-format", "json", daemon, "run", *args, env=env, cwd=tmp_path)

    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert result.returncode == 2, result.stderr
    assert errors == [
        f"error: metrics port {port_in_use} is already in use (another daemon on this host?); "
        "choose another with OUTBOX_METRICS_PORT or --metrics-port (0: no metrics server)"
    ]


@pytest.mark.parametrize("daemon", DAEMONS)
def test_the_metrics_port_option_has_the_limits_of_the_variable(
    daemon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env

    result = CliRunner().invoke(cli, [daemon, "run", "--metrics-port", "70000"])

    assert result.exit_code == 2
    assert result.stderr == (
        "error: invalid configuration: OUTBOX_METRICS_PORT: Input should be less than or equal "
        "to 65535 (got 70000)\n"
    )
