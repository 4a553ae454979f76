"""JSON log lines carry the ids a log call gives as fields of their own, next to the message."""

from __future__ import annotations

import json
import logging

import pytest

from outbox.runtime.logs import JsonFormatter, ids


def formatted(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("relay.daemon", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_the_ids_given_become_fields_next_to_the_message() -> None:
    entry = formatted(
        "gateway %s started",
        "gw_1",
        **ids(gateway_id="gw_1", gateway="edge", version=3, phase="Started", consumer="p-1"),
    )

    assert entry["message"] == "gateway gw_1 started"
    assert (entry["gateway_id"], entry["gateway"], entry["version"]) == ("gw_1", "edge", 3)
    assert (entry["phase"], entry["consumer"], entry["level"]) == ("Started", "p-1", "warning")
    assert str(entry["time"]).endswith("Z")


def test_fields_not_given_are_left_out() -> None:
    entry = formatted("plain")
    assert set(entry) == {"time", "level", "logger", "message"}


def test_ids_refuses_a_field_collectors_would_not_know() -> None:
    with pytest.raises(ValueError, match="not a log field: gateway_name"):
        ids(gateway_name="edge")
    assert ids(event_id="e1", entry_id=None) == {"event_id": "e1"}
