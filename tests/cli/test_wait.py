"""`outbox gateway wait` and `--wait` on the writing commands, through click's runner: the
provisioner's progress is written straight into the in-memory store, the exit code tells
whether the gateway settled as asked (0), elsewhere (7) or not in time (8).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS
from tests.support.cli import invoke_outbox as outbox


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for name in ("up", "degraded"):
        assert outbox(store, "gateway", "create", name, "--image", "nginx").exit_code == 0
    store.collection(GATEWAYS).update_one(
        {"name": "up"}, {"$set": {"phase": "Started", "applied_spec_version": 1}}
    )
    error = {"reason": "StartTimeout", "message": "no pods ready", "at": datetime.now(UTC)}
    store.collection(GATEWAYS).update_one(
        {"name": "degraded"},
        {"$set": {"phase": "Stopped", "state": "Stopped", "last_error": error}},
    )
    return store


def test_wait_exits_0_when_every_gateway_is_at_rest_in_the_phase(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "wait", "up", "--for", "PHASE=started", "--timeout", "5s")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == ["up", "Started", "met"]


def test_wait_exits_7_with_the_last_error_when_a_gateway_settled_elsewhere(
    store: MemoryStore,
) -> None:
    result = outbox(
        store, "gateway", "wait", "up", "degraded", "--for", "phase=Started", "-o", "json"
    )

    assert result.exit_code == 7
    assert [item["result"] for item in json.loads(result.stdout)] == ["met", "elsewhere"]
    assert json.loads(result.stderr) == {
        "error": "degraded is Stopped (state Stopped), not Started, last error StartTimeout: "
        "no pods ready",
        "code": 7,
    }


def test_a_write_with_wait_exits_8_when_nothing_carries_it_out_in_time(
    store: MemoryStore,
) -> None:
    result = outbox(
        store, "gateway", "create", "lonely", "--image", "nginx", "--wait", "--timeout", "1s"
    )

    assert result.exit_code == 8
    assert re.search(r"phase\s+Created for", result.stdout)  # where it stood at the timeout
    assert result.stderr == (
        "error: timed out waiting for lonely is Created (state Running), wanted Started\n"
    )


def test_a_refused_write_with_wait_exits_3_without_waiting(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "stop", "degraded", "--wait", "-o", "name")

    assert result.exit_code == 3
    assert result.output.startswith("error: cannot stop: gateway is state Stopped")


def test_wait_for_an_unknown_gateway_exits_5(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "wait", "nope", "--for", "phase=Deleted")
    assert (result.exit_code, result.stderr) == (5, "error: no gateway 'nope'\n")
