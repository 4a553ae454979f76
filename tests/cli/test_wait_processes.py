"""`--wait`, `gateway wait`, `--watch` and Ctrl-C as an operator meets them: real processes, with
a relay and a provisioner (on its in-memory cluster, rollouts of a second) running over
nx-27017 and a private redis-server.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from outbox.store.mongo.store import MongoStore
from tests.support.pipeline import Lines, Pipeline
from tests.support.servers import NxServer, RedisServer

pytestmark = pytest.mark.slow


def running(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path, **env: str
) -> Iterator[Pipeline]:
    pipeline = Pipeline(nx_server, redis_server, tmp_path, nx_store.database.name, **env).start()
    try:
        yield pipeline
    finally:
        pipeline.stop()


@pytest.fixture
def pipeline(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Pipeline]:
    yield from running(nx_server, nx_store, redis_server, tmp_path)


@pytest.fixture
def slow_pipeline(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> Iterator[Pipeline]:
    """Rollouts take 30 s, but a start may take 3: every first start degrades to Stopped."""
    yield from running(
        nx_server, nx_store, redis_server, tmp_path,
        OUTBOX_MEMORY_ROLLOUT="30", OUTBOX_START_TIMEOUT="3",
    )  # fmt: skip


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    return process.returncode, err


def test_each_write_with_wait_returns_once_the_provisioner_carried_it_out(
    pipeline: Pipeline,
) -> None:
    created = pipeline.outbox(
        "gateway", "create", "edge", "--image", "nginx", "--wait", "-o", "json"
    )
    assert created.returncode == 0, created.stderr + pipeline.logs()
    assert json.loads(created.stdout)["phase"] == "Started"

    stopped = pipeline.outbox("gateway", "stop", "edge", "--wait", "--timeout", "60s", "-o", "json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["phase"] == "Stopped"

    deleted = pipeline.outbox("gateway", "delete", "edge", "--wait")
    assert deleted.returncode == 0, deleted.stderr
    assert "Deleted" in deleted.stdout
    waited = pipeline.outbox("gateway", "wait", "edge", "--for", "phase=Deleted", "--timeout", "5s")
    assert waited.returncode == 0, waited.stderr


def test_a_start_degraded_by_its_timeout_exits_7_and_an_early_timeout_exits_8(
    slow_pipeline: Pipeline,
) -> None:
    early = slow_pipeline.outbox("gateway", "create", "edge", "--image", "nginx", "--wait",
                                 "--timeout", "1s")  # fmt: skip
    assert early.returncode == 8, early.stderr
    assert early.stderr.startswith("error: timed out waiting for edge is ")

    degraded = slow_pipeline.outbox("gateway", "wait", "edge", "--for", "phase=Started",
                                    "--timeout", "60s")  # fmt: skip
    assert degraded.returncode == 7, degraded.stderr + slow_pipeline.logs()
    assert (
        "edge is Stopped (state Stopped), not Started, last error StartTimeout" in degraded.stderr
    )
    assert degraded.stderr.count("\n") == 1


def test_list_watch_prints_each_change_until_ctrl_c_then_exits_130_quietly(
    pipeline: Pipeline,
) -> None:
    created = pipeline.outbox("gateway", "create", "edge", "--image", "nginx", "--stopped")
    assert created.returncode == 0, created.stderr
    watching = pipeline.spawn("gateway", "list", "--watch", "--no-headers")
    assert watching.stdout is not None
    lines = Lines(watching.stdout)
    # The watch is up once it shows the gateway at rest; a start then passes through Starting
    # for the rollout's second, long enough for the watch's polls to see it.
    assert lines.until("edge", timeout=30).split()[:2] == ["edge", "Stopped"]

    assert pipeline.outbox("gateway", "start", "edge").returncode == 0
    lines.until("Starting", timeout=30)
    started = lines.until("Started", timeout=60)

    assert started.split()[:3] == ["edge", "Running", "Started"]
    assert interrupt(watching) == (130, "")


def test_get_watch_and_timeline_watch_follow_one_gateway(pipeline: Pipeline) -> None:
    assert pipeline.outbox("gateway", "create", "edge", "--image", "nginx").returncode == 0
    getting = pipeline.spawn("gateway", "get", "edge", "-w")
    following = pipeline.spawn("gateway", "timeline", "edge", "-w")
    assert getting.stdout is not None and following.stdout is not None
    get_lines, timeline_lines = Lines(getting.stdout), Lines(following.stdout)

    get_lines.until("phase         Started", timeout=60)
    timeline_lines.until("GatewayStarted", timeout=30)

    assert interrupt(getting) == (130, "")
    assert interrupt(following) == (130, "")


def test_status_watch_prints_again_until_ctrl_c(pipeline: Pipeline) -> None:
    watching = pipeline.spawn("status", "--watch")
    assert watching.stdout is not None
    lines = Lines(watching.stdout)

    lines.until("OUTBOX", timeout=30)
    lines.until("---", timeout=30)

    assert interrupt(watching) == (130, "")
