"""`/healthz`, `/readyz` and `/metrics`: requests and latency by route template and status."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from outbox.store.memory.store import MemoryStore
from outbox_api.app import create_app
from tests.support.api import Api, settings
from tests.support.clock import FakeClock


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(2))
    return None


def test_health_and_readiness_answer_without_a_token(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code == 200


def test_requests_are_counted_by_route_template_method_and_status(api: Api) -> None:
    api.create("edge")
    api.client.get("/v1/gateways/edge", headers=api.headers())
    api.client.get("/v1/gateways/ghost", headers=api.headers())
    api.client.get("/v1/gateways/ghost")
    api.client.get("/no/such/path")

    text = api.client.get("/metrics").text
    total = "outbox_api_requests_total"

    assert sample(text, total, route="/v1/gateways", method="POST", status="201") == 1
    assert sample(text, total, route="/v1/gateways/{ref}", method="GET", status="200") == 1
    assert sample(text, total, route="/v1/gateways/{ref}", method="GET", status="404") == 1
    assert sample(text, total, route="/v1/gateways/{ref}", method="GET", status="401") == 1
    assert sample(text, total, route="unmatched", method="GET", status="404") == 1
    assert "ghost" not in text


def test_latency_is_observed_per_route_and_status(memory_store: MemoryStore) -> None:
    clock = FakeClock()
    registry = CollectorRegistry()
    ticks = iter(range(0, 1000, 1))

    def monotonic() -> float:  # every reading is a quarter second after the one before
        return next(ticks) * 0.25

    app = create_app(
        memory_store, settings=settings(), clock=clock, monotonic=monotonic, registry=registry
    )

    TestClient(app).get("/healthz")

    count = registry.get_sample_value(
        "outbox_api_request_seconds_count", {"route": "/healthz", "method": "GET", "status": "200"}
    )
    total = registry.get_sample_value(
        "outbox_api_request_seconds_sum", {"route": "/healthz", "method": "GET", "status": "200"}
    )
    assert (count, total) == (1.0, 0.25)
