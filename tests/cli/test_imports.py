"""A command imports only what it runs: `outbox gateway get X` over the wire loads neither
mongomock, nor the demo, nor Redis or Kubernetes clients; `outbox --help` not even pymongo.
Checked in a real process with `-X importtime`, which lists every module imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.cli import ROOT, clean_env
from tests.support.servers import NxServer

NEVER_FOR_A_READ = ("mongomock", "outbox_cli.demo_cmd", "redis", "kubernetes", "provisioner")


def imported_modules(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, set[str]]:
    """The exit code of `outbox ARGS` and the names of every module it imported."""
    code = (
        f"import sys; sys.argv = ['outbox', *{list(args)!r}]; "
        "from outbox_cli.main import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result.returncode, modules


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_gateway_get_imports_no_mongomock_demo_redis_or_kubernetes(
    nx_server: NxServer, tmp_path: Path
) -> None:
    env = clean_env(OUTBOX_MONGODB_URI=nx_server.uri)

    code, modules = imported_modules("gateway", "get", "x", env=env, cwd=tmp_path)

    assert code == 5  # it did reach MongoDB: no gateway x there
    assert "pymongo" in modules
    for package in NEVER_FOR_A_READ:
        assert loaded(modules, package) == [], package


def test_help_imports_no_backend_client_and_no_settings(tmp_path: Path) -> None:
    code, modules = imported_modules("--help", env=clean_env(), cwd=tmp_path)

    assert code == 0
    for package in (*NEVER_FOR_A_READ, "pymongo", "pydantic_settings", "outbox_cli.gateway_cmd"):
        assert loaded(modules, package) == [], package
