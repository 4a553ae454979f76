"""The API as a process (the Procfile's `api` line) on nx-27017, beside a relay and a provisioner
on the in-memory cluster: a gateway created over HTTP reaches Started, as `/wait` reports.

nx-27017 takes one transactional client at a time: the API writes only while the provisioner
has nothing to do (before the gateway exists); afterwards the API only reads.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from outbox.store.mongo.store import MongoStore
from outbox.store.port import GATEWAYS, OUTBOX
from outbox.writer import Writer
from outbox_api.tokens import Role, Tokens
from tests.support.api import SPEC, answers_ready, auth
from tests.support.cli import clean_env, outbox_process
from tests.support.procfile import Procfile, procfile_running, stopped_with_status_0
from tests.support.servers import NxServer, RedisServer, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def procfile(
    nx_server: NxServer, nx_store: MongoStore, redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[str, Procfile]]:
    """The three processes of the Procfile, under honcho; yields the API's base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with procfile_running(nx_server, redis_server, tmp_path, api_port=port) as running:
        wait_until(
            lambda: answers_ready(base),
            "the API ready",
            timeout=60,
            interval=0.2,
            process=running.process,
        )
        yield base, running


def test_a_gateway_created_over_http_reaches_started_as_wait_reports(
    nx_store: MongoStore, procfile: tuple[str, Procfile]
) -> None:
    bearer = Tokens(nx_store).create("deployer", Role.WRITER).bearer
    base, running = procfile
    with httpx.Client(base_url=base, headers=auth(bearer), timeout=90, trust_env=False) as client:
        body = {"name": "edge", "spec": {**SPEC, "host": "edge.example.com"}}
        created = client.post("/v1/gateways", json=body, headers={"Idempotency-Key": "first"})
        replayed = client.post("/v1/gateways", json=body, headers={"Idempotency-Key": "first"})
        version = created.json()["version"]
        params = {"for": "phase=Started", "version": version, "timeout": 60}
        waited = client.get(f"/v1/gateways/{created.json()['id']}/wait", params=params)
        fetched = client.get("/v1/gateways/edge")

    assert created.status_code == 201, created.text
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == created.content
    assert nx_store.collection(GATEWAYS).count_documents({}) == 1
    assert nx_store.collection(OUTBOX).count_documents({"type": "GatewayCreated"}) == 1
    assert waited.status_code == 200, waited.text
    assert (waited.json()["met"], waited.json()["gateway"]["phase"]) == (True, "Started")
    assert fetched.headers["ETag"] == f'"{fetched.json()["version"]}"'

    output = running.stop()
    assert stopped_with_status_0(output, "api"), output


def test_sigterm_lets_a_long_poll_in_flight_finish_then_exits_0(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    Writer(nx_store).create("edge", SPEC)  # Created, and nobody will provision it
    bearer = Tokens(nx_store).create("reader", Role.READER).bearer
    port = free_port()
    env = clean_env(
        OUTBOX_MONGODB_URI=nx_server.uri, OUTBOX_API_PORT=str(port), OUTBOX_GRACE_SECONDS="10"
    )
    api = outbox_process(["api", "run"], env=env, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        httpx.Client(base_url=base, trust_env=False) as client,
    ):
        wait_until(lambda: answers_ready(base), "the API ready", timeout=60, process=api)
        params = {"for": "phase=Started", "timeout": 3}
        waiting = pool.submit(
            client.get, "/v1/gateways/edge/wait", params=params, headers=auth(bearer), timeout=30
        )
        wait_until(
            lambda: "outbox_api_waits_in_progress 1.0" in client.get("/metrics").text,
            "the wait in flight",
            timeout=30,
            process=api,
        )
        api.send_signal(signal.SIGTERM)
        answered = waiting.result(timeout=30)
    _, stderr = api.communicate(timeout=30)

    assert answered.status_code == 200
    assert answered.json()["verdict"] == "pending"
    assert api.returncode == 0, stderr
