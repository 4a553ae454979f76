"""The metrics and health server each daemon runs on its own port.

`/metrics` serves the daemon's Prometheus registry, `/healthz` answers while the process loop is
alive, `/readyz` runs the readiness checks (MongoDB and Redis reachable) and answers 503 with
the failing check's message otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], None]  # raises when not ready


class HealthServer:
    def __init__(
        self,
        *,
        port: int,
        registry: CollectorRegistry,
        checks: Mapping[str, Check],
        alive: Callable[[], bool] = lambda: True,
        host: str = "0.0.0.0",
    ) -> None:
        self._registry = registry
        self._checks = dict(checks)
        self._alive = alive
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("metrics and health on port %d (/metrics, /healthz, /readyz)", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def readiness(self) -> tuple[bool, str]:
        failures = []
        for name, check in self._checks.items():
            try:
                check()
            except Exception as error:  # any failure means not ready; say which and why
                failures.append(f"{name}: {error}")
        return (not failures, "; ".join(failures) or "ready")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(server._registry), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    alive = server._alive()
                    self._send(200 if alive else 503, b"ok\n" if alive else b"stalled\n")
                elif self.path == "/readyz":
                    ready, message = server.readiness()
                    self._send(200 if ready else 503, message.encode() + b"\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # scrapes every few seconds would drown the daemon's own log

        return Handler


@contextmanager
def serving(
    *,
    port: int,
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    alive: Callable[[], bool],
) -> Iterator[HealthServer | None]:
    """The health server for the duration of a daemon's run; port 0 means none."""
    if not port:
        yield None
        return
    server = HealthServer(port=port, registry=registry, checks=checks, alive=alive).start()
    try:
        yield server
    finally:
        server.stop()
