"""`outbox relay run` as a real process, on nx-27017 over the wire and the private Redis."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from bson import ObjectId
from click.testing import CliRunner

from outbox.domain.clock import utcnow
from outbox.store.mongo.store import MongoStore
from outbox.store.port import LEASES
from outbox.store.port import OUTBOX as OUTBOX_COLLECTION
from outbox_cli.main import cli
from tests.support.cli import empty_env_file, relay_process
from tests.support.relay import assert_each_once, assert_gateway_order, insert_events, unpublished
from tests.support.servers import NxServer, RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def test_a_relay_killed_mid_drain_and_run_again_publishes_every_event_once_in_order(
    relay_nx_server: NxServer,
    relay_nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    # Given 2,000 events and a relay process draining them
    events = insert_events(relay_nx_store, per_gateway=20, gateways=100)
    ctx = {
        "nx": relay_nx_server,
        "store": relay_nx_store,
        "redis_server": redis_server,
        "tmp_path": tmp_path,
    }
    first = relay_process([], OUTBOX_RELAY_ID="first", **ctx)

    # When it is killed without warning half-way
    wait_until(
        lambda: redis_client.xlen("events:gateway") >= 300,
        "the relay publishing",
        timeout=30,
        process=first,
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 0 < redis_client.xlen("events:gateway") < len(events)

    # and another one runs (it waits for the dead relay's lease to expire)
    second = relay_process(["--once"], OUTBOX_RELAY_ID="second", **ctx)
    out, err = second.communicate(timeout=60)

    # Then every event is in the stream once, each gateway's in version order
    assert second.returncode == 0, err
    assert "published" in out
    assert_each_once(redis_client, [e.id for e in events])
    assert redis_client.xlen("events:gateway") == len(events)
    assert_gateway_order(redis_client)
    assert unpublished(relay_nx_store) == []


def test_once_exits_4_when_another_relay_keeps_the_lease(
    relay_nx_server: NxServer,
    relay_nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    relay_nx_store.collection(LEASES).insert_one(
        {
            "_id": "relay:events:gateway",
            "owner": "elsewhere",
            "token": 7,
            "expires_at": utcnow() + timedelta(hours=1),
        }
    )
    insert_events(relay_nx_store, per_gateway=1, gateways=2)

    process = relay_process(
        ["--once"],
        nx=relay_nx_server,
        store=relay_nx_store,
        redis_server=redis_server,
        tmp_path=tmp_path,
        OUTBOX_LEASE_SECONDS="0.5",
    )
    _, err = process.communicate(timeout=30)

    assert process.returncode == 4
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("error: lease relay:events:gateway is held by relay elsewhere")
    )
    assert "Traceback" not in err
    assert redis_client.xlen("events:gateway") == 0


def test_sigterm_finishes_and_releases_the_lease_with_exit_0(
    relay_nx_server: NxServer,
    relay_nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    events = insert_events(relay_nx_store, per_gateway=2, gateways=5)
    process = relay_process(
        [],
        nx=relay_nx_server,
        store=relay_nx_store,
        redis_server=redis_server,
        tmp_path=tmp_path,
        OUTBOX_RELAY_ID="terminated",
    )
    wait_until(
        lambda: redis_client.xlen("events:gateway") >= len(events),
        "every event published",
        timeout=30,
        process=process,
    )

    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)

    assert process.returncode == 0, err
    assert "SIGTERM received" in err and "released" in err
    lease = relay_nx_store.collection(LEASES).find_one({"_id": "relay:events:gateway"})
    assert lease is not None and lease["owner"] is None


def test_once_publishes_every_event_around_a_malformed_document_and_status_names_it(
    relay_nx_server: NxServer,
    relay_nx_store: MongoStore,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    # Given 100 events and, among them, a document another service wrote: an ObjectId _id and
    # a type this version does not know, for one of the gateways, above its versions
    events = insert_events(relay_nx_store, per_gateway=10, gateways=10)
    stray = ObjectId()
    relay_nx_store.collection(OUTBOX_COLLECTION).insert_one(
        {
            "_id": stray,
            "type": "GatewayRenamed",
            "aggregate_id": "gw_0003",
            "version": 11,
            "occurred_at": events[5].occurred_at,
            "published_at": None,
        }
    )

    # When `outbox relay run --once` runs
    process = relay_process(
        ["--once"],
        nx=relay_nx_server,
        store=relay_nx_store,
        redis_server=redis_server,
        tmp_path=tmp_path,
    )
    out, err = process.communicate(timeout=60)

    # Then it publishes the 100 and exits 0, and says what it set aside
    assert process.returncode == 0, err
    assert "published 100 events" in out
    assert_each_once(redis_client, [e.id for e in events])
    assert redis_client.xlen("events:gateway") == 100
    assert f"outbox document {stray} (gateway gw_0003, v11) cannot be published" in err
    # and `outbox status --json` lists the document by its hex digits, with its reason
    shown = CliRunner().invoke(
        cli,
        ["--env-file", empty_env_file(tmp_path), "status", "--json"],
        env={
            "OUTBOX_MONGODB_URI": relay_nx_server.uri,
            "OUTBOX_DATABASE": relay_nx_store.database.name,
            "OUTBOX_REDIS_URL": redis_server.url,
        },
    )
    assert shown.exit_code == 0, shown.output
    (parked,) = json.loads(shown.stdout)["outbox"]["parked"]
    assert parked["event_id"] == str(stray) and parked["unreadable"] is True
    assert parked["last_error"] == (
        "unreadable outbox document: _id is of type ObjectId, not a string event id"
    )
