"""`/healthz` (the process answers), `/readyz` (MongoDB answers too) and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from outbox.domain.errors import BackendUnavailable
from outbox.store.port import Store


def health_routes(store: Store, registry: CollectorRegistry) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", media_type="text/plain")

    @router.get("/readyz")
    def readyz() -> Response:
        try:
            store.ping()
        except BackendUnavailable as error:
            return Response(f"mongodb: {error}\n", status_code=503, media_type="text/plain")
        return Response("ok\n", media_type="text/plain")

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
