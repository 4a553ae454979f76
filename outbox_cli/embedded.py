"""Embedded Redis for the demo: a private redis-server when the binary is there, else fakeredis."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis


class EmbeddedRedis:
    """Starts nothing that outlives it: the server and its temp dir go with `stop()`."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self.description = ""

    def start(self) -> redis.Redis[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            import fakeredis

            self.description = "in-process Redis (fakeredis): redis-server is not on PATH"
            return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        self._dir = Path(tempfile.mkdtemp(prefix="outbox-demo-"))
        socket_path = self._dir / "redis.sock"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                "0",
                "--unixsocket",
                str(socket_path),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(unix_socket_path=str(socket_path), decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.02)
        version = client.info("server").get("redis_version", "?")
        self.description = f"private redis-server {version} on {socket_path}"
        return client

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
