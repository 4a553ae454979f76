"""The Procfile launch: honcho starts both daemons, a gateway reaches Started, SIGTERM stops both
cleanly. Against nx-27017 over the wire and a private redis-server, with the in-memory cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from outbox.domain.model import Phase
from outbox.store.mongo.store import MongoStore
from outbox.writer import Writer
from tests.support.api import answers_ready
from tests.support.cli import ROOT
from tests.support.procfile import procfile_running, stopped_with_status_0
from tests.support.servers import NxServer, RedisServer, free_port
from tests.support.waiting import wait_until

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
    api_port = free_port()
    with procfile_running(nx_server, redis_server, tmp_path, api_port=api_port) as running:

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
            process=running.process,
        )
        # The API too, before SIGTERM: a process still importing has no handler for it yet.
        wait_until(
            lambda: answers_ready(f"http://127.0.0.1:{api_port}"),
            "the API ready",
            timeout=60,
            interval=0.2,
            process=running.process,
        )
        output = running.stop()

    for name in ("relay", "provisioner", "api"):
        assert stopped_with_status_0(output, name), output
