"""Log set-up for the command line: text for people, JSON lines for collectors.

JSON lines carry the ids a log call passes as `extra` (see FIELDS) as fields of their own, next
to the message, so that a collector can filter on a gateway or an event without parsing text:

    log.info("gateway %s started", gateway.id, extra=ids(gateway_id=gateway.id, version=3))

They also carry the trace and span ids of the line's trace, when it is in one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# The structured fields a JSON line may carry, in this order.
FIELDS = (
    "gateway_id",
    "gateway",
    "event_id",
    "entry_id",
    "dead_letter_id",
    "version",
    "phase",
    "partition",
    "relay_id",
    "consumer",
    "error_kind",
)


def ids(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call: the known fields given, None values left out."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {', '.join(sorted(unknown))}")
    return {key: value for key, value in values.items() if value is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value if isinstance(value, int | float | bool) else str(value)
        # Formatted in the thread that logged, so the current span is the one of the work logged.
        # Imported here: text logs, and commands that never log JSON, skip OpenTelemetry.
        from outbox.runtime import tracing

        if (trace := tracing.ids()) is not None:
            entry["trace_id"], entry["span_id"] = trace
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(*, verbose: bool = False, json_format: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("kubernetes", "urllib3", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
