"""The app factory: a FastAPI application over a store, with its clock and waits injected.

Tests build it on the in-memory store and drive it with FastAPI's test client; `outbox api run`
builds it on MongoDB and serves it with uvicorn (`outbox_api.server`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from outbox.domain.clock import Clock, utcnow
from outbox.store.port import Store
from outbox_api import problems
from outbox_api.auth import Authenticator
from outbox_api.body_limit import BodyLimit
from outbox_api.context import Context
from outbox_api.gateway_routes import gateway_routes
from outbox_api.health import health_routes
from outbox_api.long_poll import Sleep, Waits
from outbox_api.metrics import Measured, RequestMetrics
from outbox_api.settings import ApiSettings
from outbox_api.token_routes import token_routes
from outbox_api.tokens import Tokens
from outbox_api.traced import Traced
from outbox_api.writes import Writes

OPENAPI_URL = "/v1/openapi.json"


def create_app(
    store: Store,
    *,
    settings: ApiSettings | None = None,
    clock: Clock = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    settings = settings or ApiSettings()
    registry = registry or CollectorRegistry()
    ctx = _context(store, settings, clock, monotonic, sleep)
    app = FastAPI(
        title="gateway-outbox",
        version="1",
        description="Create, change and delete API gateways; provisioning happens afterwards.",
        openapi_url=OPENAPI_URL,
        docs_url="/v1/docs",
        redoc_url=None,
        # Request spans are ours (`Traced`); FastAPI's would skip a propagation-only provider.
        telemetry={"tracing": False, "operation_spans": False, "metrics": False, "logs": False},
    )
    problems.install(app, identify=ctx.authenticator.identify)
    app.include_router(health_routes(store, registry))
    app.include_router(gateway_routes(ctx))
    app.include_router(token_routes(ctx))
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body)
    app.add_middleware(Measured, metrics=RequestMetrics(registry), monotonic=monotonic)
    app.add_middleware(Traced)
    Gauge(
        "outbox_api_waits_in_progress", "Open /wait long polls on this replica", registry=registry
    ).set_function(lambda: ctx.waits.active)
    generate = app.openapi
    app.openapi = lambda: problems.as_problem_json(generate())  # type: ignore[method-assign]
    return app


def _context(
    store: Store,
    settings: ApiSettings,
    clock: Clock,
    monotonic: Callable[[], float],
    sleep: Sleep,
) -> Context:
    tokens = Tokens(store, clock=clock)
    authenticator = Authenticator(
        tokens, ttl=settings.api_token_cache, clock=clock, monotonic=monotonic
    )
    waits = Waits(
        cap=settings.api_max_waits,
        interval=settings.api_wait_interval,
        monotonic=monotonic,
        sleep=sleep,
    )
    return Context(store, clock, tokens, authenticator, Writes(store, clock=clock), waits)
