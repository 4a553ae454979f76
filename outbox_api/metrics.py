"""Request counts and latency by route, method and status, for `/metrics`.

A plain ASGI middleware (no per-request task): the route label is the matched path template
(`/v1/gateways/{ref}`), so a label never holds a gateway name; unmatched paths share one label.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("route", "method", "status")
        self.requests = Counter(
            "outbox_api_requests", "HTTP requests answered", labels, registry=registry
        )
        self.latency = Histogram(
            "outbox_api_request_seconds",
            "Time to answer an HTTP request",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(seconds)


class Measured:
    def __init__(
        self, app: ASGIApp, *, metrics: RequestMetrics, monotonic: Callable[[], float]
    ) -> None:
        self._app = app
        self._metrics = metrics
        self._monotonic = monotonic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = self._monotonic()
        status = 500  # if the app fails before it answers

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, watched)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            self._metrics.observe(route, scope["method"], status, self._monotonic() - started)
