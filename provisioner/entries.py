"""Stream entries as the provisioner reads them: parsed, or refused with the reason why.

Pure: the consumer dead-letters whatever `parse_entry` refuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from outbox.domain.events import AGGREGATE_TYPE, STREAM_FIELDS, EventType
from outbox.domain.model import is_gateway_id

_KNOWN_TYPES = {event_type.value for event_type in EventType}


@dataclass(frozen=True)
class GatewayEvent:
    entry_id: str
    event_id: str
    type: EventType
    gateway_id: str
    version: int


@dataclass(frozen=True)
class Poison:
    entry_id: str
    reason: str


def parse_entry(entry_id: str, fields: dict[str, str], *, max_bytes: int) -> GatewayEvent | Poison:
    size = sum(len(key) + len(value) for key, value in fields.items())
    if size > max_bytes:
        return Poison(entry_id, f"entry is {size} bytes, more than the {max_bytes} allowed")
    missing = [name for name in STREAM_FIELDS if not fields.get(name)]
    if missing:
        return Poison(entry_id, f"missing fields: {', '.join(missing)}")
    for check in _CHECKS:
        if (reason := check(fields)) is not None:
            return Poison(entry_id, reason)
    return GatewayEvent(
        entry_id=entry_id,
        event_id=fields["event_id"],
        type=EventType(fields["type"]),
        gateway_id=fields["aggregate_id"],
        version=int(fields["version"]),
    )


def _type(fields: dict[str, str]) -> str | None:
    if fields["type"] not in _KNOWN_TYPES:
        return f"unknown event type {fields['type'][:80]!r}"
    if fields["aggregate_type"] != AGGREGATE_TYPE:
        return f"unknown aggregate type {fields['aggregate_type'][:80]!r}"
    return None


def _aggregate(fields: dict[str, str]) -> str | None:
    if not is_gateway_id(fields["aggregate_id"]):
        return f"aggregate_id {fields['aggregate_id'][:80]!r} is not a gateway id"
    if not fields["version"].isdigit():
        return f"version {fields['version'][:80]!r} is not a number"
    return None


def _payload(fields: dict[str, str]) -> str | None:
    try:
        payload = json.loads(fields["payload"])
    except ValueError as error:
        return f"payload is not JSON: {error}"
    return None if isinstance(payload, dict) else "payload is not a JSON object"


_CHECKS: tuple[Callable[[dict[str, str]], str | None], ...] = (_type, _aggregate, _payload)
