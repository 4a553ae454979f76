"""Every request in a server span: the caller's W3C `traceparent` continued, or a new trace.

The writer stores the current trace on the outbox event, so a gateway's change is one trace from
the request through the relay to the provisioner's Kubernetes calls. The write runs in a worker
thread; Starlette copies the request's context (and so its span) into it.

FastAPI's own request spans are off (`app.py`): they skip the propagation-only provider a
process installs when nothing exports (`outbox/runtime/tracer_provider.py`), which would leave the
writer without the caller's trace.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from outbox.runtime import tracing


class Traced:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        with tracing.request_span(f"{scope['method']} {scope['path']}", headers) as span:
            try:
                await self._app(scope, receive, send)
            finally:
                # Named by the route's template once routing found it, like every HTTP server span.
                route = getattr(scope.get("route"), "path", None)
                if route is not None and span.is_recording():
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
