"""The OpenAPI document is generated from the app, served at /v1/openapi.json, and committed as
openapi.json: this test keeps the two equal (`python -m outbox_api.openapi > openapi.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from outbox_api.openapi import document
from tests.support.api import Api

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_the_committed_openapi_json_is_the_generated_one() -> None:
    assert json.loads(COMMITTED.read_text()) == document(), (
        "openapi.json is stale: run `python -m outbox_api.openapi > openapi.json`"
    )


def test_the_document_is_served_under_v1(api: Api) -> None:
    response = api.client.get("/v1/openapi.json")

    assert response.status_code == 200
    assert response.json() == json.loads(COMMITTED.read_text())


def test_every_route_of_the_api_is_documented_with_its_problems() -> None:
    paths = document()["paths"]

    assert set(paths) == {
        "/v1/gateways",
        "/v1/gateways/{ref}",
        "/v1/gateways/{ref}/environments",
        "/v1/gateways/{ref}/timeline",
        "/v1/gateways/{ref}/start",
        "/v1/gateways/{ref}/stop",
        "/v1/gateways/{ref}/restart",
        "/v1/gateways/{ref}/wait",
        "/v1/tokens",
        "/v1/tokens/{name}",
    }
    create = paths["/v1/gateways"]["post"]["responses"]
    assert {"201", "401", "403", "409", "412", "413", "422", "503"} <= set(create)
    assert "application/problem+json" in create["409"]["content"]
