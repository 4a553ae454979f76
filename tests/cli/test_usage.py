"""Usage at the edges: one-line usage errors (exit 2), empty references and negative versions,
options validated with their variables' limits, a missing `--env-file`, `-h`, help that shows
limits, and Ctrl-C. Through click's runner; the env file and help also as a process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from outbox.store.memory.store import MemoryStore
from outbox_cli.main import cli
from tests.support.cli import clean_env, invoke_outbox, run_outbox
from tests.support.store_faults import InterruptingStore


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    assert invoke_outbox(store, "gateway", "create", "edge", "--image", "nginx").exit_code == 0
    return store


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gateway", "create", "x"], "error: Missing option '--image'."),
        (["gateway", "nope"], "error: No such command 'nope'."),
        (["gateway", "get"], "error: Missing argument 'NAME'."),
        (["gateway", "list", "--phase", "Sleeping"], "error: Invalid value for '--phase'"),
        (["gateway", "get", "edge", "-o", "xml"], "error: Invalid value for '-o' / '--output'"),
        (["gateway", "start", ""], "error: Invalid value for 'NAME': a gateway name or id cannot"),
        (["gateway", "stop", "  "], "error: Invalid value for 'NAME': a gateway name or id cannot"),
        (
            ["gateway", "stop", "edge", "--expected-version", "-5"],
            "error: Invalid value for '--expected-version': -5 is not in the range x>=1.",
        ),
        (["gateway", "wait", "edge", "--for", "color=red"], "give phase=Started, phase=Stopped"),
        (["gateway", "wait", "edge", "--for", "phase=Started", "--timeout", "0"], "more than 0"),
        (["gateway", "wait", "edge", "--for", "phase=Started", "--timeout", "soon"], "duration"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    store: MemoryStore, args: list[str], message: str
) -> None:
    result = invoke_outbox(store, *args)

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr


@pytest.mark.parametrize(
    ("args", "variable"),
    [
        (["provisioner", "run", "--workers", "0"], "OUTBOX_WORKERS: Input should be greater"),
        (["provisioner", "run", "--workers", "5000"], "OUTBOX_WORKERS: Input should be less"),
        (["relay", "run", "--batch-size", "0"], "OUTBOX_BATCH_SIZE: Input should be greater"),
        (["relay", "run", "--metrics-port", "70000"], "OUTBOX_METRICS_PORT"),
    ],
)
def test_an_option_is_validated_with_the_limits_of_its_variable(
    args: list[str], variable: str
) -> None:
    result = invoke_outbox(MemoryStore(), *args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: invalid configuration: ") and variable in result.stderr


@pytest.mark.parametrize(
    ("args", "limits"),
    [
        (["provisioner", "run", "-h"], ["Worker pool size (default: $OUTBOX_WORKERS or 32; 1 to"]),
        (["relay", "run", "-h"], ["Events per batch (default: $OUTBOX_BATCH_SIZE or"]),
        (["gateway", "create", "-h"], ["Pods (1 to 100)", "Container port (1 to 65535)"]),
        (["gateway", "stop", "-h"], ["x>=1", "more than 0"]),
    ],
)
def test_h_prints_help_and_every_option_shows_its_limits(
    args: list[str], limits: list[str]
) -> None:
    result = invoke_outbox(MemoryStore(), *args)

    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert all(limit in text for limit in limits), text


def test_root_help_lists_every_group(store: MemoryStore) -> None:
    text = invoke_outbox(store, "-h").stdout
    for group in ("gateway", "relay", "provisioner", "status", "dlq", "init", "demo", "completion"):
        assert f"  {group} " in text


def test_an_explicit_env_file_that_is_missing_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--env-file", str(tmp_path / "nope.env"), "gateway", "list"])

    assert result.exit_code == 2
    assert (
        result.stderr == f"error: Invalid value for --env-file: {tmp_path}/nope.env: no such file\n"
    )


def test_the_default_env_file_may_be_absent_and_an_explicit_one_is_read(tmp_path: Path) -> None:
    (tmp_path / "settings.env").write_text("OUTBOX_MONGODB_URI=redis://wrong\n")
    env = clean_env()

    absent = run_outbox("gateway", "get", "x", "-h", env=env, cwd=tmp_path)
    read = run_outbox("--env-file", "settings.env", "gateway", "get", "x", env=env, cwd=tmp_path)

    assert absent.returncode == 0
    assert read.returncode == 2 and "OUTBOX_MONGODB_URI must start with mongodb://" in read.stderr


def test_ctrl_c_exits_130_without_a_word() -> None:
    result = invoke_outbox(InterruptingStore(), "gateway", "list")

    assert result.exit_code == 130
    assert result.output == ""
