"""The installed `outbox` command, run as a process the way users and the Procfile run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OUTBOX = str(Path(sys.executable).with_name("outbox"))


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any OUTBOX_* variable of the developer's, plus `values`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTBOX_")}
    return {**env, **values}


def run_outbox(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTBOX, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
