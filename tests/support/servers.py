"""Private servers the tests start and stop themselves: redis-server and nx-27017."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from tests.support.waiting import wait_until

# What a test empties on the shared nx-27017, which ignores database names (every database shares
# one set of collections).
PRODUCT_COLLECTIONS = (
    "gateways",
    "environments",
    "outbox",
    "leases",
    "members",
    "config",
    "tokens",
    "idempotency_keys",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server on a unix socket in a temp dir (and a TCP port), with append-only file.

    `stop()` and `start()` keep the same socket, port and data directory, so a client can see an
    outage and a recovery with its data intact.
    """

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-redis-"))
        self.socket = str(self.dir / "redis.sock")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--unixsocket",
                self.socket,
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, "redis-server up", timeout=15, interval=0.05)
        return self

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class NxServer:
    """nx-27017 (a MongoDB wire-protocol server on SQLite) on a free port in a temp dir.

    One SQLite file per database (`--data-dir`): with a single `--db` file every database name
    maps to the same collections. It is not safe under concurrency: use it where one client
    writes at a time.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-nx-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> NxServer:
        executable = Path(sys.executable).with_name("nx-27017")
        command = (
            [str(executable)]
            if executable.exists()
            else [sys.executable, "-m", "nx_27017.nx_27017"]
        )
        self.process = subprocess.Popen(
            [
                *command,
                "--data-dir",
                str(self.dir / "data"),
                "--port",
                str(self.port),
                "--log-file",
                str(self.dir / "nx.log"),
                "--pid-file",
                str(self.dir / "nx.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        wait_until(self._answers, "nx-27017 up", timeout=15, interval=0.05)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
