"""The command line at its edges: a database that is down or never initialised, a commit whose
outcome is unknown, a reader that leaves early, and `outbox init` over an outbox that breaks its
own invariant. Real processes where the fault is a process fault.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from uuid import uuid4

import pytest
from click.testing import CliRunner, Result

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import GATEWAYS, OUTBOX, Store
from outbox_cli.app import App
from outbox_cli.main import cli
from tests.support.cli import OUTBOX as OUTBOX_COMMAND
from tests.support.cli import clean_env, run_outbox
from tests.support.indexes import as_before_unique_versions, indexes
from tests.support.servers import NxServer, free_port
from tests.support.store_faults import CommitUnknownStore


def outbox(store: Store, *args: str, env: dict[str, str] | None = None) -> Result:
    app = App(env_file=None)
    app._store = store
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent", *args], obj=app, env=env)


def seconds_to_run(*args: str, env: dict[str, str], cwd: Path) -> float:
    began = time.monotonic()
    assert run_outbox(*args, env=env, cwd=cwd).returncode == 0
    return time.monotonic() - began


# -- bounded writes --------------------------------------------------------------------------------


def test_a_create_against_an_unreachable_mongodb_exits_6_within_the_timeout_plus_3s(
    tmp_path: Path,
) -> None:
    env = clean_env(
        OUTBOX_MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        OUTBOX_MONGODB_TIMEOUT="2",
    )
    # The bound is on the write, beyond the command's own start-up: about 1 s on an idle
    # machine (so some 3 s in all), more while other tests load it.
    start_up = seconds_to_run("--version", env=env, cwd=tmp_path)
    began = time.monotonic()
    result = run_outbox(
        "gateway", "create", "x", "--image", "nginx:1.27", env=env, cwd=tmp_path, timeout=20
    )

    assert time.monotonic() - began - start_up < 2 + 3
    assert result.returncode == 6
    assert result.stderr.count("\n") == 1 and "is unreachable" in result.stderr


def test_a_create_in_a_database_never_initialised_is_refused_and_writes_nothing(
    nx_server: NxServer, tmp_path: Path
) -> None:
    # It used to commit the gateway, then exit 1 with "unexpected OperationFailure: No session
    # specified" (nx-27017 never began a transaction whose first read found no collection).
    database = f"fresh{uuid4().hex[:8]}"
    env = clean_env(OUTBOX_MONGODB_URI=nx_server.uri, OUTBOX_DATABASE=database)

    created = run_outbox("gateway", "create", "x", "--image", "nginx:1.27", env=env, cwd=tmp_path)

    assert created.returncode == 2
    assert created.stderr.count("\n") == 1
    assert "has no indexes: run `outbox init` first (nothing was written)" in created.stderr
    store = MongoStore(nx_server.uri, database=database)
    try:
        assert store.collection(GATEWAYS).count_documents({}) == 0
    finally:
        store.close()


def test_a_commit_with_an_unknown_outcome_exits_6_and_says_how_to_check() -> None:
    result = outbox(
        CommitUnknownStore(MemoryStore()), "gateway", "create", "edge", "--image", "nginx"
    )

    assert result.exit_code == 6
    assert result.stderr.count("\n") == 1
    assert result.stderr.endswith(
        "may or may not have committed; check with `outbox gateway get edge`\n"
    )


def test_a_command_on_the_in_memory_store_is_refused_with_exit_2_since_only_the_demo_keeps_it(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        cli,
        ["--env-file", str(tmp_path / "none"), "gateway", "list"],
        obj=App(env_file=None),
        env={"OUTBOX_MONGODB_URI": "memory://"},
    )

    assert result.exit_code == 2
    assert result.stderr == (
        "error: OUTBOX_MONGODB_URI=memory:// keeps data inside one process; it only works in "
        "`outbox demo`. Point it at a MongoDB replica set.\n"
    )


# -- broken pipes ----------------------------------------------------------------------------------


def run_with_stdout_closed(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Like `outbox … | head -0`: the reader is gone before the command prints anything."""
    process = subprocess.Popen(
        [OUTBOX_COMMAND, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


@pytest.mark.parametrize(
    "command", [["gateway", "create", "edge", "--image", "nginx:1.27"], ["gateway", "list"]]
)
def test_a_reader_that_leaves_early_ends_the_command_quietly_with_exit_0(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path, command: list[str]
) -> None:
    env = clean_env(OUTBOX_MONGODB_URI=nx_server.uri)

    code, stderr = run_with_stdout_closed(*command, env=env, cwd=tmp_path)

    assert (code, stderr) == (0, "")
    if command[1] == "create":  # it committed before it printed
        assert nx_store.database["gateways"].count_documents({"name": "edge"}) == 1


# -- outbox init -----------------------------------------------------------------------------------


def test_init_over_events_that_share_a_version_exits_3_lists_them_and_changes_nothing(
    nx_server: NxServer, nx_store: MongoStore
) -> None:
    # A database from an earlier version (the in-memory store never has one).
    store = nx_store
    store.database[OUTBOX].delete_many({})
    as_before_unique_versions(store)
    store.collection(OUTBOX).insert_many(
        [
            {"_id": "ev_1", "aggregate_id": "gw_1", "version": 1},
            {"_id": "ev_2", "aggregate_id": "gw_1", "version": 1},
            {"_id": "ev_3", "aggregate_id": "gw_2"},
            {"_id": "ev_4", "aggregate_id": "gw_2"},
        ]
    )

    # The command closes the store it is given: it gets its own client.
    result = outbox(MongoStore(nx_server.uri, database=store.database.name), "init")

    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        "GATEWAY  VERSION  EVENTS",
        "gw_1     1        ev_1, ev_2",
        "gw_2     None     ev_3, ev_4",
    ]
    assert result.stderr.count("\n") == 1
    assert "2 outbox version(s) are held by more than one event" in result.stderr
    assert not indexes(store, OUTBOX)[("aggregate_id", "version")].get("unique")


def test_init_json_lists_the_indexes_it_made() -> None:
    result = outbox(MemoryStore(), "init", "--json")

    assert result.exit_code == 0
    assert "outbox.by_gateway_version" in json.loads(result.stdout)["indexes"]


@pytest.mark.parametrize(("retention", "expected"), [("60", 60), ("0", None)])
def test_init_sets_the_retention_index_from_outbox_retention(
    retention: str, expected: int | None
) -> None:
    store = MemoryStore()
    assert outbox(store, "init").exit_code == 0  # the default: a week

    result = outbox(store, "init", env={"OUTBOX_RETENTION": retention})

    assert result.exit_code == 0, result.output
    ttl = indexes(store, OUTBOX).get(("published_at",))
    assert (ttl or {}).get("expireAfterSeconds") == expected
