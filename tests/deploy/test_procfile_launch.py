"""The Procfile launch: honcho starts both daemons, a gateway reaches Started, SIGTERM stops both
cleanly. Against nx-27017 over the wire and a private redis-server, with the in-memory cluster."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from outbox.model import Phase
from outbox.mongo_store import MongoStore
from outbox.writer import Writer
from tests.support.cli import clean_env
from tests.support.servers import NxServer, RedisServer, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_honcho_check_accepts_the_procfile() -> None:
    honcho = Path(sys.executable).with_name("honcho")
    result = subprocess.run(
        [str(honcho), "-f", str(ROOT / "Procfile"), "check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "relay" in result.stderr + result.stdout and "provisioner" in result.stderr + result.stdout
    )


def test_the_procfile_runs_both_daemons_and_sigterm_stops_them_with_status_zero(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> None:
    # Written before the daemons start: nx-27017 wants one writer at a time.
    created = Writer(nx_store).create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    api_port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **clean_env(),
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "OUTBOX_MONGODB_URI": nx_server.uri,
        "OUTBOX_DATABASE": "outbox",
        "OUTBOX_REDIS_URL": redis_server.url,
        "OUTBOX_CLUSTER": "memory",
        "OUTBOX_WORKERS": "1",
        "OUTBOX_MEMORY_ROLLOUT": "0.3",
        "OUTBOX_SWEEP_INTERVAL": "0.3",
        "OUTBOX_METRICS_PORT": "0",
        "OUTBOX_API_PORT": str(api_port),
        "OUTBOX_GRACE_SECONDS": "3",
        "PYTHONUNBUFFERED": "1",
    }
    honcho = subprocess.Popen(
        [
            str(Path(bin_dir) / "honcho"),
            "-e",
            str(empty_env_file),
            "-f",
            str(ROOT / "Procfile"),
            "start",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def phase() -> object:
            document = nx_store.database["gateways"].find_one({"_id": created.id}, {"phase": 1})
            return document and document.get("phase")

        def published() -> bool:  # the relay is up: under load it may start after the sweep
            return nx_store.database["outbox"].find_one({"published_at": {"$ne": None}}) is not None

        wait_until(
            lambda: phase() == Phase.STARTED and published(),
            "the gateway Started and the relay publishing",
            timeout=60,
            interval=0.2,
            process=honcho,
        )
        # The API too, before SIGTERM: a process still importing has no handler for it yet.
        wait_until(
            lambda: answers(f"http://127.0.0.1:{api_port}/readyz"),
            "the API ready",
            timeout=60,
            interval=0.2,
            process=honcho,
        )
    finally:
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
        output, _ = honcho.communicate(timeout=30)

    assert (
        re.search(r"relay\.1\s+\|?\s*stopped \(rc=0\)", output)
        or "relay.1 stopped (rc=0)" in output
    ), output
    assert (
        re.search(r"provisioner\.1\s+\|?\s*stopped \(rc=0\)", output)
        or "provisioner.1 stopped (rc=0)" in output
    ), output
    assert re.search(r"api\.1\s+\|?\s*stopped \(rc=0\)", output) or (
        "api.1 stopped (rc=0)" in output
    ), output


# Straight to 127.0.0.1, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
