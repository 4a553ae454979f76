"""The README's first quick-start command, as written, on a fresh clone: it sets everything up.

(The second, `make test`, is what CI runs to get here.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A fresh venv installs every dependency: minutes on a loaded machine, within the 600 s below.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(660)]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout to clone")
@pytest.mark.timeout(660)  # a fresh venv installs every dependency: minutes on a busy machine
def test_make_demo_on_a_fresh_clone_installs_and_passes(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=60)
    assert shutil.which("make"), "make is needed for the quick start"
    # As a user types it: not as a sub-make of the `make test` that may be running this test.
    env = {
        k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "VENV")
    }
    result = subprocess.run(
        ["make", "demo"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().splitlines()[-1] == "demo passed", result.stdout[-3000:]
