"""The Procfile launch: honcho accepts the Procfile, each line execs a real `outbox` daemon, and
`.env.example` documents every variable and stops the daemons before honcho's SIGKILL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from honcho.environ import parse_procfile
from honcho.manager import KILL_WAIT

from outbox.runtime.settings import CommonSettings, load
from outbox_api.settings import ApiSettings
from outbox_cli.main import cli
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings

ROOT = Path(__file__).resolve().parents[2]
HONCHO = Path(sys.executable).with_name("honcho")
SETTINGS = (CommonSettings, RelaySettings, ProvisionerSettings, ApiSettings)
ENV_LINE = re.compile(r"^(#\s*)?(OUTBOX_[A-Z_]+)=(.*)$")


def env_example() -> list[tuple[bool, str, str]]:
    """(commented out, name, value) for every OUTBOX_ assignment in .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    found = [ENV_LINE.match(line.strip()) for line in lines]
    return [(bool(m.group(1)), m.group(2), m.group(3)) for m in found if m]


def test_honcho_check_accepts_the_procfile(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(HONCHO), "check", "-f", str(ROOT / "Procfile"), "-e", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (relay, provisioner, api)" in result.stderr


def test_each_process_execs_its_daemon_so_signals_reach_it() -> None:
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes

    assert processes == {
        "relay": "exec outbox relay run",
        "provisioner": "exec outbox provisioner run",
        "api": "exec outbox api run",
    }


@pytest.mark.parametrize("daemon", ["relay", "provisioner", "api"])
def test_the_procfile_commands_exist(daemon: str) -> None:
    result = CliRunner().invoke(cli, [daemon, "run", "--help"])

    assert result.exit_code == 0, result.output


def test_env_example_names_every_setting_with_its_default() -> None:
    documented = {(name, value) for commented, name, value in env_example() if commented}
    set_here = {name for commented, name, _ in env_example() if not commented}
    for cls in SETTINGS:
        for field_name, field in cls.model_fields.items():
            name = f"OUTBOX_{field_name.upper()}"
            if name in set_here:
                continue
            if field.default_factory is not None:
                assert any(doc == name for doc, _ in documented), name
            else:
                assert (name, str(field.default)) in documented, f"{name}={field.default}"


def test_env_example_sets_nothing_that_must_differ_between_the_daemons() -> None:
    set_here = {name for commented, name, _ in env_example() if not commented}

    assert not set_here & {
        "OUTBOX_METRICS_PORT",
        "OUTBOX_BATCH_SIZE",
        "OUTBOX_CONSUMER",
        "OUTBOX_RELAY_ID",
    }


def test_the_daemons_have_distinct_default_metrics_ports() -> None:
    relay = RelaySettings.model_fields["metrics_port"].default
    provisioner = ProvisionerSettings.model_fields["metrics_port"].default

    assert relay != provisioner
    assert 0 not in (relay, provisioner)


def test_env_example_loads_and_stops_the_daemons_before_honcho_kills_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("OUTBOX_")]:
        monkeypatch.delenv(name)
    env_file = str(ROOT / ".env.example")

    relay = load(RelaySettings, env_file=env_file)
    provisioner = load(ProvisionerSettings, env_file=env_file)

    assert relay.grace_seconds == provisioner.grace_seconds
    assert relay.grace_seconds < KILL_WAIT, "honcho 2.0 sends SIGKILL KILL_WAIT s after SIGTERM"
