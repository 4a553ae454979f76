"""`-o table|wide|json|yaml|name`, `--no-headers`, `--json`, the list's columns and filters, and
times: RFC 3339 UTC for scripts, ages for people. Through click's runner on the in-memory store.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml

from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS
from outbox_cli.output import age, plain, rfc3339
from tests.support.cli import invoke_outbox as outbox

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for name in ("alpha", "beta", "gone"):
        created = outbox(store, "gateway", "create", name, "--image", "nginx:1.27", "--env", "dev")
        assert created.exit_code == 0, created.output
    # "gone" was deleted and the provisioner finished with it; "beta" degraded on its first start
    store.collection(GATEWAYS).update_one(
        {"name": "gone"},
        {"$set": {"state": "Deleted", "phase": "Deleted"}, "$unset": {"live_name": ""}},
    )
    error = {"reason": "StartTimeout", "message": "image pull failed", "at": datetime.now(UTC)}
    store.collection(GATEWAYS).update_one(
        {"name": "beta"},
        {"$set": {"state": "Stopped", "phase": "Stopped", "last_error": error}},
    )
    return store


def test_list_hides_deleted_gateways_unless_all_is_asked(store: MemoryStore) -> None:
    assert outbox(store, "gateway", "list", "-o", "name").stdout.split() == ["alpha", "beta"]
    everything = outbox(store, "gateway", "list", "-A", "-o", "name").stdout.split()
    assert everything == ["alpha", "beta", "gone"]
    asked = outbox(store, "gateway", "list", "--phase", "deleted", "-o", "name").stdout.split()
    assert asked == ["gone"]


def test_the_table_shows_age_and_a_short_last_error_and_stays_narrow(store: MemoryStore) -> None:
    lines = outbox(store, "gateway", "list").stdout.splitlines()

    assert lines[0].split() == ["NAME", "STATE", "PHASE", "VERSION", "AGE", "LAST-ERROR"]
    beta = next(line for line in lines if line.startswith("beta"))
    assert "StartTimeout: image pull failed" in beta
    assert re.search(r"\s\d+s\s", beta)  # created seconds ago
    assert max(len(line) for line in lines) <= 100


def test_wide_adds_id_image_host_and_environments(store: MemoryStore) -> None:
    lines = outbox(store, "gateway", "list", "-o", "wide").stdout.splitlines()

    assert lines[0].split()[-4:] == ["ID", "IMAGE", "HOST", "ENVIRONMENTS"]
    assert lines[1].split()[-3:] == ["nginx:1.27", "-", "dev"]


def test_no_headers_leaves_out_the_header_line(store: MemoryStore) -> None:
    lines = outbox(store, "gateway", "list", "--no-headers").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["alpha", "beta"]


def test_filters_take_any_case(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "list", "--phase", "stopped", "--state", "STOPPED")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["beta"]
    assert outbox(store, "gateway", "list", "-o", "JSON").exit_code == 0


def test_json_and_yaml_carry_the_same_data_with_rfc3339_utc_times(store: MemoryStore) -> None:
    as_json = json.loads(outbox(store, "gateway", "get", "beta", "-o", "json").stdout)
    as_yaml = yaml.safe_load(outbox(store, "gateway", "get", "beta", "-o", "yaml").stdout)
    alias = json.loads(outbox(store, "gateway", "get", "beta", "--json").stdout)

    assert as_json == as_yaml == alias
    for key in ("created_at", "updated_at", "phase_changed_at"):
        assert RFC3339_UTC.match(as_json[key]), as_json[key]
    assert RFC3339_UTC.match(as_json["last_error"]["at"])
    assert as_json["environments"] == {"dev": "Inactive"}


def test_every_time_in_machine_output_has_one_format(store: MemoryStore) -> None:
    timeline = json.loads(outbox(store, "gateway", "timeline", "alpha", "-o", "json").stdout)
    status = yaml.safe_load(outbox(store, "gateway", "list", "-A", "-o", "yaml").stdout)

    assert RFC3339_UTC.match(timeline["events"][0]["occurred_at"])
    assert RFC3339_UTC.match(timeline["phases"][0]["entered_at"])
    assert all(RFC3339_UTC.match(item["created_at"]) for item in status)


def test_tables_show_ages_not_timestamps(store: MemoryStore) -> None:
    shown = outbox(store, "gateway", "get", "beta").stdout

    assert re.search(r"phase\s+Stopped for \d+s", shown)
    assert re.search(r"last error\s+StartTimeout: image pull failed \(\d+s ago\)", shown)
    assert not re.search(r"\d\d:\d\d:\d\d", shown)


def test_a_write_prints_its_result_in_the_format_asked(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "stop", "alpha", "-o", "yaml")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["state"] == "Stopped"
    assert outbox(store, "gateway", "start", "alpha", "-o", "name").stdout == "alpha\n"


def test_init_speaks_json_and_yaml() -> None:
    # An empty store: recording partitions over existing gateways would ask Redis what is unacked.
    store = MemoryStore()
    as_json = json.loads(outbox(store, "init", "-o", "json").stdout)
    assert as_json["indexes"] and as_json["store"].startswith("in-memory store")
    assert as_json["partitions"] == 8
    again = yaml.safe_load(outbox(store, "init", "-o", "yaml").stdout)
    assert (as_json.pop("partitions_before"), again.pop("partitions_before")) == (None, 8)
    assert again == as_json


def test_under_json_an_error_is_a_json_object_on_stderr_with_the_same_exit_code(
    store: MemoryStore,
) -> None:
    result = outbox(store, "gateway", "get", "nope", "-o", "json")

    assert result.exit_code == 5
    assert result.stdout == ""
    assert json.loads(result.stderr) == {"error": "no gateway 'nope'", "code": 5}


def test_without_json_an_error_stays_one_plain_line(store: MemoryStore) -> None:
    result = outbox(store, "gateway", "get", "nope")
    assert (result.exit_code, result.stderr) == (5, "error: no gateway 'nope'\n")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59, "59s"), (192, "3m12s"), (7500, "2h05m"), (3 * 86400 + 4 * 3600, "3d04h")],
)
def test_ages_are_short(seconds: int, shown: str) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert age(now - timedelta(seconds=seconds), now) == shown


def test_machine_times_are_utc_with_milliseconds_whatever_the_zone_given() -> None:
    cet = datetime(2026, 1, 2, 4, 4, 5, 678900, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert rfc3339(cet) == "2026-01-02T04:04:05.678Z"
    assert plain({"at": [cet]}) == {"at": ["2026-01-02T04:04:05.678Z"]}


@pytest.mark.parametrize(
    "args",
    [
        ["gateway", "get", "-o", "json"],  # found while parsing
        ["gateway", "update", "alpha", "--host", "a.example.com", "--no-host", "--json"],
        ["gateway", "list", "--phase", "Sleeping", "--output=json"],
    ],
)
def test_under_json_a_usage_error_is_a_json_object_too(store: MemoryStore, args: list[str]) -> None:
    result = outbox(store, *args)

    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert error["code"] == 2 and error["error"]
