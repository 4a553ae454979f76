"""Which stream entries the provisioner can handle, and why the others are dead-lettered."""

from __future__ import annotations

import json

import pytest

from outbox.domain.events import EventType
from provisioner.entries import GatewayEvent, Poison, parse_entry


def entry(**changes: str) -> dict[str, str]:
    fields = {
        "event_id": "ev_1",
        "type": "GatewayCreated",
        "aggregate_type": "gateway",
        "aggregate_id": "gw_abc",
        "version": "1",
        "occurred_at": "2026-01-01T12:00:00Z",
        "payload": json.dumps({"name": "edge"}),
    }
    fields.update(changes)
    return {key: value for key, value in fields.items() if value != "<drop>"}


def test_a_well_formed_entry_names_the_gateway_to_look_at() -> None:
    parsed = parse_entry("1-0", entry(), max_bytes=10_000)
    assert parsed == GatewayEvent("1-0", "ev_1", EventType.CREATED, "gw_abc", 1)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (entry(payload="{not json"), "payload is not JSON"),
        (entry(payload="[1, 2]"), "payload is not a JSON object"),
        (entry(type="GatewayExploded"), "unknown event type 'GatewayExploded'"),
        (entry(aggregate_type="invoice"), "unknown aggregate type 'invoice'"),
        (entry(aggregate_id="edge"), "is not a gateway id"),
        (entry(version="seven"), "is not a number"),
        (entry(aggregate_id="<drop>", version="<drop>"), "missing fields: aggregate_id, version"),
        ({"garbage": "x"}, "missing fields: event_id, type"),
        (entry(payload=json.dumps({"blob": "x" * 20_000})), "more than the 10000 allowed"),
    ],
)
def test_entries_that_cannot_be_handled_say_why(fields: dict[str, str], reason: str) -> None:
    parsed = parse_entry("1-0", fields, max_bytes=10_000)
    assert isinstance(parsed, Poison)
    assert reason in parsed.reason
