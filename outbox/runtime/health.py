"""The metrics and health server each daemon runs on its own port.

`/metrics` serves the daemon's Prometheus registry (with the process's own RSS, CPU and open
files), `/healthz` answers while the process loop is alive, `/readyz` runs the readiness checks
(MongoDB and Redis reachable) and answers 503 with the failing check's message otherwise.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from outbox.domain.errors import InvalidInput

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
        self._server = _listen(host, port, self._handler())
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


def _listen(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        # Typically a second daemon on one host with the same default port: say which port and
        # how to choose another, instead of a bare errno.
        problem = (
            "is already in use (another daemon on this host?)"
            if error.errno == errno.EADDRINUSE
            else f"cannot be opened: {error.strerror or error}"
        )
        raise InvalidInput(
            f"metrics port {port} {problem}; choose another with OUTBOX_METRICS_PORT or "
            "--metrics-port (0: no metrics server)"
        ) from None


@contextmanager
def serving(
    *,
    port: int,
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    alive: Callable[[], bool],
) -> Iterator[HealthServer | None]:
    """The health server for the duration of a daemon's run; port 0 means none.

    Call it once per registry: it adds the process collector to `registry`.
    """
    if not port:
        yield None
        return
    # No `*_created` series: one per labelled child doubles the scrape, and no alert reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)  # RSS, CPU seconds, open files of this process
    server = HealthServer(port=port, registry=registry, checks=checks, alive=alive).start()
    try:
        yield server
    finally:
        server.stop()
