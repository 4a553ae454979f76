"""The whole pipeline as processes, as an operator runs it: `outbox relay run` and `outbox
provisioner run` (on its in-memory cluster) over nx-27017 and a private redis-server, and the
command line run against them. Plus a reader of a long-running command's output lines.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from tests.support.cli import OUTBOX, ROOT, clean_env, outbox_process, run_outbox
from tests.support.servers import NxServer, RedisServer


class Pipeline:
    """A relay and a provisioner running; `settings` are OUTBOX_* overrides for both."""

    def __init__(
        self, nx: NxServer, redis: RedisServer, cwd: Path, database: str, **settings: str
    ) -> None:
        self.cwd = cwd
        self.env = clean_env(
            OUTBOX_MONGODB_URI=nx.uri,
            OUTBOX_DATABASE=database,
            OUTBOX_REDIS_URL=redis.url,
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        self._daemon_env = {
            **self.env,
            "OUTBOX_METRICS_PORT": "0",
            "OUTBOX_CLUSTER": "memory",
            "OUTBOX_MEMORY_ROLLOUT": "1",
            "OUTBOX_WORKERS": "1",  # one transaction at a time on nx-27017
            "OUTBOX_LEASE_SECONDS": "2",
            "OUTBOX_GRACE_SECONDS": "2",
            **settings,
        }
        self.daemons: list[subprocess.Popen[str]] = []

    def start(self) -> Pipeline:
        for command in (["relay", "run"], ["provisioner", "run"]):
            log = (self.cwd / f"{command[0]}.log").open("w")
            self.daemons.append(
                subprocess.Popen(
                    [OUTBOX, *command],
                    env=self._daemon_env,
                    cwd=self.cwd,
                    stdout=log,
                    stderr=log,
                    text=True,
                )
            )
        return self

    def outbox(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run_outbox(*args, env=self.env, cwd=self.cwd, timeout=timeout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return outbox_process(args, env=self.env, cwd=self.cwd)

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.cwd.glob("*.log")))

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in self.daemons:
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


class Lines:
    """The lines a process prints, read on a thread, so a test can wait for one with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def until(self, text: str, *, timeout: float) -> str:
        """The first line (from here on) containing `text`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout}s: {self.seen}") from None
            self.seen.append(line)
            if text in line:
                return line
