"""`outbox gateway …` and `outbox init`: output for people and scripts, and the exit codes.

Through click's runner on the in-memory store, and as real processes against nx-27017.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.repository import UnitOfWork
from outbox_cli.app import App
from outbox_cli.main import cli
from tests.support.cli import clean_env, run_outbox
from tests.support.servers import NxServer, free_port


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def outbox(store: MemoryStore, *args: str) -> Result:
    app = App(env_file=None)
    app._store = store
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent", *args], obj=app)


def events(store: MemoryStore) -> int:
    return len(UnitOfWork(store).events.of(UnitOfWork(store).gateways.list()[0].id))


def test_create_prints_the_gateway_and_json_gives_every_field(store: MemoryStore) -> None:
    human = outbox(
        store,
        "gateway",
        "create",
        "edge",
        "--image",
        "nginx:1.27",
        "--host",
        "edge.example.com",
        "--env",
        "dev",
        "--env",
        "prod",
        "--replicas",
        "2",
    )
    assert human.exit_code == 0, human.output
    assert "created: edge (gw_" in human.output
    assert "environments  dev=Inactive, prod=Inactive" in human.output

    as_json = json.loads(outbox(store, "gateway", "get", "edge", "--json").stdout)
    assert (
        as_json["name"] == "edge"
        and as_json["state"] == "Running"
        and as_json["phase"] == "Created"
    )
    assert as_json["spec"] == {
        "image": "nginx:1.27",
        "replicas": 2,
        "port": 8080,
        "host": "edge.example.com",
        "environments": ["dev", "prod"],
    }
    assert as_json["environments"] == {"dev": "Inactive", "prod": "Inactive"}


def test_list_filters_by_state_and_phase(store: MemoryStore) -> None:
    outbox(store, "gateway", "create", "a", "--image", "nginx")
    outbox(store, "gateway", "create", "b", "--image", "nginx", "--stopped")
    listed = json.loads(outbox(store, "gateway", "list", "--state", "Stopped", "--json").stdout)
    assert [item["name"] for item in listed] == ["b"]
    table = outbox(store, "gateway", "list", "--phase", "Created").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATE", "PHASE", "VERSION", "AGE", "LAST-ERROR"]
    assert [line.split()[0] for line in table[1:]] == ["a", "b"]


def test_update_changes_only_what_is_given_and_no_host_removes_the_host(store: MemoryStore) -> None:
    outbox(
        store, "gateway", "create", "edge", "--image", "nginx:1.27", "--host", "edge.example.com"
    )
    result = outbox(store, "gateway", "update", "edge", "--replicas", "3", "--no-host", "--json")
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)["spec"]
    assert spec["replicas"] == 3 and spec["host"] is None and spec["image"] == "nginx:1.27"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["gateway", "restart", "edge"],
            3,
            "cannot restart: gateway is state Running, phase Created",
        ),
        (["gateway", "start", "edge"], 3, "cannot start"),
        (
            ["gateway", "create", "edge", "--image", "nginx"],
            4,
            "name 'edge' is used by gateway gw_",
        ),
        (["gateway", "stop", "edge", "--expected-version", "7"], 4, "not the expected 7"),
        (["gateway", "get", "nope"], 5, "no gateway 'nope'"),
        (["gateway", "create", "Bad_Name", "--image", "nginx"], 2, "is not a DNS-1035 label"),
        (["gateway", "create", "ok", "--image", "nginx", "--replicas", "0"], 2, "replicas:"),
        (
            ["gateway", "update", "edge", "--host", "a.example.com", "--no-host"],
            2,
            "exclude each other",
        ),
        (["gateway", "update", "edge"], 2, "nothing to update"),
    ],
)
def test_refusals_exit_with_the_documented_code_one_line_and_nothing_written(
    store: MemoryStore, args: list[str], code: int, message: str
) -> None:
    outbox(store, "gateway", "create", "edge", "--image", "nginx")
    before = events(store)
    result = outbox(store, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert events(store) == before


def test_init_creates_the_indexes(store: MemoryStore) -> None:
    result = outbox(store, "init")
    assert result.exit_code == 0, result.output
    assert "live_name_unique" in result.output and "unpublished_in_order" in result.output


# -- real processes against nx-27017 ----------------------------------------------------------


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_outbox(*args, env=env, cwd=cwd)


def test_the_command_line_as_a_process_over_the_wire(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    env = clean_env(OUTBOX_MONGODB_URI=nx_server.uri)
    assert run(env, tmp_path, "init").returncode == 0
    created = run(env, tmp_path, "gateway", "create", "edge", "--image", "nginx:1.27", "--json")
    assert created.returncode == 0, created.stderr
    gateway_id = json.loads(created.stdout)["id"]

    stopped = run(env, tmp_path, "gateway", "stop", gateway_id)
    assert stopped.returncode == 0 and "stop requested: edge" in stopped.stdout

    refused = run(env, tmp_path, "gateway", "restart", "edge")
    assert refused.returncode == 3
    assert refused.stderr.strip() == (
        "error: cannot restart: gateway is state Stopped, phase Created; "
        "restart is allowed when state is Running and phase Started"
    )
    missing = run(env, tmp_path, "gateway", "get", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (5, "error: no gateway 'nope'")
    document = nx_store.database["gateways"].find_one({"_id": gateway_id})
    assert document["state"] == "Stopped" and document["version"] == 2


def test_an_unreachable_mongodb_is_exit_6_within_seconds_and_one_line(tmp_path: Path) -> None:
    env = clean_env(
        OUTBOX_MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        OUTBOX_MONGODB_TIMEOUT="1",
    )
    began = time.monotonic()
    result = run(env, tmp_path, "gateway", "list")
    assert result.returncode == 6
    assert time.monotonic() - began < 10
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "error: MongoDB at mongodb://127.0.0.1:"
    )


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = run(clean_env(OUTBOX_MONGODB_TIMEOUT="soon"), tmp_path, "gateway", "list")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid configuration: OUTBOX_MONGODB_TIMEOUT")


def test_secrets_in_urls_are_never_printed(tmp_path: Path) -> None:
    env = clean_env(
        OUTBOX_MONGODB_URI=f"mongodb://admin:s3cret@127.0.0.1:{free_port()}/?directConnection=true",
        OUTBOX_MONGODB_TIMEOUT="1",
    )
    result = run(env, tmp_path, "gateway", "list")
    assert result.returncode == 6
    assert "s3cret" not in result.stderr and "admin:***@" in result.stderr
