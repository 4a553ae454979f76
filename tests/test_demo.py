"""`outbox demo`, run as a user would: a subprocess in a clean environment, nothing else running."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def run_demo(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "outbox"), "demo"],
        cwd=tmp_path,  # no .env here
        env={"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_every_gateway_reached_its_final_phase(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^edge\s+Deleted/Deleted\s+Deleted/Deleted\s+-\s+\d+\s+ok$", out, re.M), out
    assert re.search(
        r"^doomed\s+Stopped/Stopped\s+Stopped/Stopped\s+StartTimeout\s+\d+\s+ok$", out, re.M
    ), out
    assert out.rstrip().endswith("demo passed")
    for phase_change in (
        "-> Starting",
        "-> Started",
        "-> Stopping",
        "-> Stopped",
        "-> Deleting",
        "-> Deleted",
    ):
        assert phase_change in out
    assert "Traceback" not in result.stderr


def test_the_demo_walks_gateways_through_their_phases_with_a_private_redis_server(
    tmp_path: Path,
) -> None:
    result = run_demo(tmp_path, f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    assert "private redis-server" in result.stdout
    assert_every_gateway_reached_its_final_phase(result)


def test_without_redis_server_on_the_path_the_demo_says_so_and_uses_the_in_memory_stream(
    tmp_path: Path,
) -> None:
    result = run_demo(tmp_path, str(BIN))
    assert "in-memory stream: redis-server is not on PATH" in result.stdout
    assert_every_gateway_reached_its_final_phase(result)
