"""A provisioner at rest costs the API server nothing but its watches.

The real `outbox provisioner run` process against the emulator process (its request log is the
witness), nx-27017 and a private Redis; 50 Started gateways seeded straight into the store and
the emulator. Sweeping every second and resyncing every two, it looks at every gateway again and
again, from its cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outbox.store.mongo.store import MongoStore
from provisioner.cluster.port import KINDS
from tests.support import started
from tests.support.emulator_process import EmulatorProcess
from tests.support.provisioner_process import ProvisionerProcess
from tests.support.servers import NxServer, RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

GATEWAYS = 50
WINDOW = 10.0  # seconds of rest the request log is read over
START_TIMEOUT = 600
RESYNCS = "outbox_provisioner_resyncs_total"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path).start()
    yield process
    process.close()


def is_watch(request: dict[str, Any]) -> bool:
    return request["method"] == "GET" and request["query"].get("watch") in ("true", "1")


def test_at_rest_it_sends_no_get_only_watches_while_resyncing_from_its_cache(
    nx_server: NxServer,
    nx_store: MongoStore,
    redis_server: RedisServer,
    emulator: EmulatorProcess,
    tmp_path: Path,
) -> None:
    # Given 50 Started gateways, their objects rolled out, and a provisioner that has listed them
    seeded = started.gateways(GATEWAYS)
    started.insert(nx_store, seeded)
    emulator.put(started.objects(seeded, start_timeout=START_TIMEOUT))
    provisioner = ProvisionerProcess(
        emulator,
        tmp_path,
        OUTBOX_MONGODB_URI=nx_server.uri,
        OUTBOX_DATABASE=nx_store.database.name,
        OUTBOX_REDIS_URL=redis_server.url,
        OUTBOX_WORKERS="1",  # nx-27017: one transactional client at a time
        OUTBOX_SWEEP_INTERVAL="1",
        OUTBOX_RESYNC_INTERVAL="2",
        OUTBOX_START_TIMEOUT=str(START_TIMEOUT),
    ).start()
    try:
        # The window opens with a resync, so it holds five of them when they come every 2 s.
        first = provisioner.metric(RESYNCS)
        wait_until(lambda: provisioner.metric(RESYNCS) > first, "a resync", timeout=10)
        opened, resyncs_before = len(emulator.requests()), provisioner.metric(RESYNCS) - 1

        # When nothing changes for 10 s
        time.sleep(WINDOW)  # the window is what is measured: no condition to wait for

        # Then it sent only its watches, and resynced every gateway at least five times
        requests = emulator.requests()[opened:]
        resyncs = provisioner.metric(RESYNCS) - resyncs_before
        reconciled = provisioner.metric("outbox_provisioner_reconciles_total", trigger="resync")
    finally:
        log = provisioner.close()
    other = [(r["method"], r["kind"], r["name"]) for r in requests if not is_watch(r)]
    assert other == [], log[-3000:]
    assert resyncs >= 5, log[-3000:]
    assert reconciled >= 5 * GATEWAYS  # each resync looked at every gateway, from the cache
    assert {r["kind"] for r in requests} <= set(KINDS)
