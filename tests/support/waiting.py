"""Waiting for what another thread or process does: polling a condition until a deadline."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def became_true(condition: Callable[[], object], *, timeout: float, interval: float = 0.01) -> bool:
    """Whether `condition` held at some poll before `timeout` seconds were up."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(
    condition: Callable[[], object],
    what: str = "the condition",
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
    process: subprocess.Popen[str] | None = None,
) -> None:
    """Until `condition` holds; fails after `timeout` seconds, or as soon as `process` exits."""

    held = False

    def holds_or_process_gone() -> bool:
        nonlocal held
        held = bool(condition())
        return held or (process is not None and process.poll() is not None)

    if not became_true(holds_or_process_gone, timeout=timeout, interval=interval):
        raise AssertionError(f"{what}: not within {timeout}s")
    if not held and process is not None:
        # Read, not communicate(): the caller may still communicate() with it to clean up.
        err = process.stderr.read() if process.stderr else ""
        raise AssertionError(f"{what}: the process exited ({process.returncode}) first: {err}")
