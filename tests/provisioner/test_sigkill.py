"""A real provisioner process killed with SIGKILL mid-run, and another one started after it.

`outbox provisioner run` against nx-27017 and a private redis-server, on the API server emulator
as a process of its own. The kill lands while the emulator holds one of its applies open: the
only worker waits on the cluster, so no MongoDB transaction is open (nx-27017 cannot survive a
client killed inside one).
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from outbox.domain.events import EventType as E
from outbox.domain.model import Phase
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX
from outbox.stream.redis.stream import RedisStream
from outbox.writer import Writer
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.support.cli import nx_daemon_env, outbox_process
from tests.support.emulator_process import EmulatorProcess
from tests.support.gateways import phases
from tests.support.servers import NxServer, RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

STREAM = "events:gateway"
# Three: the first sweep hands all of them to the one worker and the stream is still read in the
# same turn (at four, the back-pressure of four per worker would put the read off).
GATEWAY_NAMES = ["edge-a", "edge-b", "edge-c"]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path, complete_rollouts=True).start()
    yield process
    process.close()


def provisioner_process(
    consumer: str,
    *,
    nx: NxServer,
    store: MongoStore,
    redis_server: RedisServer,
    emulator: EmulatorProcess,
    tmp_path: Path,
) -> subprocess.Popen[str]:
    # One worker (nx_daemon_env's): nothing else in hand while the worker waits on a held apply.
    environment = nx_daemon_env(
        nx,
        store.database.name,
        redis_server.url,
        OUTBOX_CLUSTER="kubernetes",
        KUBECONFIG=str(emulator.kubeconfig),
        OUTBOX_NAMESPACE="gateways",
        OUTBOX_CONSUMER=consumer,
        # A dead consumer's entries are taken over after 2 s.
        OUTBOX_RECLAIM_IDLE="2",
        OUTBOX_HANDLER_DEADLINE="1",
        OUTBOX_SWEEP_INTERVAL="0.5",
        OUTBOX_GRACE_SECONDS="3",
    )
    return outbox_process(["provisioner", "run"], env=environment, cwd=tmp_path)


def test_a_provisioner_killed_with_sigkill_mid_run_is_taken_over_without_duplicate_events(
    nx_server: NxServer,
    nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    emulator: EmulatorProcess,
    tmp_path: Path,
) -> None:
    # Given three gateways created and published before any provisioner runs (one client
    # writing to nx-27017 at a time)
    writer = Writer(nx_store)
    ids = [writer.create(name, {"image": "nginx:1.27"}).id for name in GATEWAY_NAMES]
    relay = build_relay(
        RelaySettings(_env_file=None, stream=STREAM, metrics_port=0, relay_id="relay-test"),  # type: ignore[call-arg]
        store=nx_store,
        stream=RedisStream(redis_client),
    )
    relay.run_once()
    assert redis_client.xlen(STREAM) == len(ids)
    ctx = {
        "nx": nx_server,
        "store": nx_store,
        "redis_server": redis_server,
        "emulator": emulator,
        "tmp_path": tmp_path,
    }

    # When a provisioner has started one gateway (its Deployment, Service and NetworkPolicy)
    # and the Deployment of a second, and waits on the emulator for the Service of the second
    emulator.hold_applies(after=4)
    first = provisioner_process("first", **ctx)
    emulator.wait_until_held()
    assert first.poll() is None
    held = emulator.requests()[-1]
    assert (held["method"], held["kind"]) == ("PATCH", "Service")

    # and is killed right there
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert phases(nx_store) == Counter({Phase.STARTED: 1, Phase.CREATED: len(ids) - 1})
    # the entries of the two gateways it had not finished stay pending with the dead consumer
    pending = redis_client.xpending(STREAM, "provisioner")
    assert [(c["name"], c["pending"]) for c in pending["consumers"]] == [("first", len(ids) - 1)]

    # and another provisioner starts after it
    emulator.release()
    second = provisioner_process("second", **ctx)
    try:
        wait_until(
            lambda: (
                phases(nx_store) == Counter({Phase.STARTED: len(ids)})
                and redis_client.xpending(STREAM, "provisioner")["pending"] == 0
            ),
            "every gateway Started, with nothing left pending",
            timeout=20,
            interval=0.1,
            process=second,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=15)
    assert second.returncode == 0, err

    # Then every gateway started once: each phase event once, in the outbox and in the cluster
    events = nx_store.collection(OUTBOX).find({})
    keys = Counter((event["aggregate_id"], event["type"], event["version"]) for event in events)
    assert [key for key, count in keys.items() if count > 1] == []
    for gateway_id in ids:
        story = sorted((e["version"], e["type"]) for e in events if e["aggregate_id"] == gateway_id)
        assert [kind for _, kind in story] == [E.CREATED, E.STARTING, E.STARTED], gateway_id
    deployments = [o for o in emulator.objects() if o["kind"] == "Deployment"]
    assert sorted(d["metadata"]["labels"]["gateway-outbox.io/gateway-id"] for d in deployments) == (
        sorted(ids)
    )
