"""Each daemon's own metrics and health endpoints, scraped from the real processes.

Both daemons run as `outbox … run` against nx-27017 and a private redis-server; stopping that
Redis must turn both readiness probes to 503 while liveness stays 200, and SIGTERM ends both
with status 0.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from outbox.mongo_store import MongoStore
from outbox.writer import Writer
from tests.support.cli import OUTBOX, clean_env
from tests.support.servers import NxServer, RedisServer, free_port

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_both_daemons_serve_metrics_and_readiness_follows_redis(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    redis_server = RedisServer().start()  # its own: this test stops it
    Writer(nx_store).create("edge", {"image": "nginx:1.27"})
    ports = {"relay": free_port(), "provisioner": free_port()}
    base_env = clean_env(
        OUTBOX_MONGODB_URI=nx_server.uri,
        OUTBOX_REDIS_URL=redis_server.url,
        OUTBOX_CLUSTER="memory",
        OUTBOX_MEMORY_ROLLOUT="0.2",
        OUTBOX_SWEEP_INTERVAL="0.2",
        OUTBOX_WORKERS="1",
        OUTBOX_GRACE_SECONDS="3",
    )
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
        eventually(
            lambda: (
                'outbox_gateways{phase="Started"} 1.0' in get(url["provisioner"] + "/metrics")[1]
            ),
            "the gateway counted as Started",
        )
        assert "outbox_relay_published_total" in get(url["relay"] + "/metrics")[1]
        for name in ports:
            assert get(url[name] + "/healthz")[0] == 200
            assert get(url[name] + "/readyz")[0] == 200

        redis_server.stop()
        for name in ports:
            eventually(lambda name=name: get(url[name] + "/readyz")[0] == 503, f"{name} not ready")
            assert "redis" in get(url[name] + "/readyz")[1]
            assert get(url[name] + "/healthz")[0] == 200  # an outage is no reason to restart

        redis_server.start()
        for name in ports:
            eventually(
                lambda name=name: get(url[name] + "/readyz")[0] == 200, f"{name} ready again"
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
