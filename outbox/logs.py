"""Log set-up for the command line: text for people, JSON lines for collectors (with the
trace and span ids of the line's trace, when it is in one)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from outbox import tracing


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Formatted in the thread that logged, so the current span is the one of the work logged.
        if (ids := tracing.ids()) is not None:
            entry["trace_id"], entry["span_id"] = ids
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
