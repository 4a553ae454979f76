"""The demo's event stream: on a private redis-server when the binary is there, else in memory."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from outbox.stream import EventStream, StreamUnavailable
from outbox.stream.memory.stream import MemoryStream
from outbox.stream.redis.stream import RedisStream

# No snapshots, no append-only file, and the server's files in our temp dir (given after).
_EPHEMERAL = ("--save", "", "--appendonly", "no", "--dir")


class EmbeddedStream:
    """Starts nothing that outlives it: the server and its temp dir go with `stop()`."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self.description = ""

    def start(self) -> EventStream:
        binary = shutil.which("redis-server")
        if binary is None:
            self.description = "in-memory stream: redis-server is not on PATH"
            return MemoryStream()
        self._dir = Path(tempfile.mkdtemp(prefix="outbox-demo-"))
        socket_path = self._dir / "redis.sock"
        self._process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(socket_path), *_EPHEMERAL, str(self._dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stream = RedisStream.from_url(f"unix://{socket_path}")
        self._wait_until_up(stream)
        self.description = f"private redis-server {stream.server_version()} on {socket_path}"
        return stream

    def _wait_until_up(self, stream: RedisStream) -> None:
        assert self._process is not None
        deadline = time.monotonic() + 10
        while True:
            try:
                stream.ping()
                return
            except StreamUnavailable:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
