"""The Procfile under honcho, as `make run` starts it: relay, provisioner and API on nx-27017 and
a private redis-server, with the in-memory cluster's short rollouts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.cli import ROOT, nx_daemon_env
from tests.support.servers import NxServer, RedisServer

BIN = Path(sys.executable).parent


class Procfile:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._output: str | None = None

    def stop(self) -> str:
        """SIGTERM to honcho (it passes it on to each process); honcho's output once all ended."""
        if self._output is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            self._output, _ = self.process.communicate(timeout=30)
        return self._output


@contextmanager
def procfile_running(
    nx: NxServer, redis_server: RedisServer, cwd: Path, *, api_port: int
) -> Iterator[Procfile]:
    """honcho running the Procfile in `cwd`, with an empty env file (no developer's `.env`);
    stopped on the way out if the test did not stop it."""
    (cwd / "empty.env").write_text("")
    env = nx_daemon_env(
        nx,
        "outbox",
        redis_server.url,
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        OUTBOX_CLUSTER="memory",
        OUTBOX_MEMORY_ROLLOUT="0.3",
        OUTBOX_SWEEP_INTERVAL="0.3",
        OUTBOX_API_PORT=str(api_port),
        OUTBOX_GRACE_SECONDS="3",
    )
    process = subprocess.Popen(
        [str(BIN / "honcho"), "-e", "empty.env", "-f", str(ROOT / "Procfile"), "start"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procfile = Procfile(process)
    try:
        yield procfile
    finally:
        procfile.stop()


def stopped_with_status_0(output: str, name: str) -> bool:
    """Whether honcho's output says its process `name` ended with status 0."""
    return re.search(rf"{name}\.1\s+\|?\s*stopped \(rc=0\)", output) is not None
