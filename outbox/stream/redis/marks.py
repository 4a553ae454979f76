"""The high-water marks on Redis: read, seeded, and what the stream already holds.

Seeding is rare (once per stream, at the upgrade from per-event dedupe keys, or after the marks
were lost with the stream still there), so it reads the whole stream in pages and scans for the
old keys without hurry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from outbox.stream import keys
from outbox.stream.port import StreamConfig
from outbox.stream.publish_script import SEED_SCRIPT
from outbox.stream.records import PublishedRecord
from outbox.stream.redis.errors import redis_errors
from outbox.stream.redis.scripts import Scripts

PAGE = 1000

# Single-key, so it is allowed on a cluster too: raise a fence, never lower it.
RAISE_FENCE = """
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > fence then
  redis.call('SET', KEYS[1], ARGV[1])
end
return fence
"""


class RedisMarks:
    def __init__(self, client: Any, config: StreamConfig, scripts: Scripts) -> None:
        self._redis = client
        self._config = config
        self._scripts = scripts

    def marks(self, gateways: Sequence[str]) -> dict[str, int]:
        if not gateways:
            return {}
        with redis_errors():
            values = self._redis.hmget(keys.marks_key(self._config.stream), list(gateways))
        return {g: int(v) for g, v in zip(gateways, values, strict=True) if v is not None}

    def published_record(self, *, token: int) -> PublishedRecord:
        stream = self._config.stream
        with redis_errors():
            # Relays of the release before the marks fence with the old key: keep them out
            # while the record is taken (the current fence was raised by the refused publish).
            self._scripts.run(RAISE_FENCE, [keys.legacy_fence_key(stream)], [token])
            versions = self._versions()
            prefix = keys.legacy_dedupe_prefix(stream)
            found = self._redis.scan_iter(match=_escaped(prefix) + "*", count=PAGE)
            event_ids = [_text(key)[len(prefix) :] for key in found]
        return PublishedRecord(versions=versions, event_ids=event_ids)

    def _versions(self) -> dict[str, int]:
        highest: dict[str, int] = {}
        start = "-"
        while True:
            page = self._redis.xrange(self._config.stream, start, "+", count=PAGE)
            for _, fields in page:
                gateway, version = fields.get("aggregate_id"), fields.get("version", "")
                if gateway and version.isdigit():
                    highest[gateway] = max(int(version), highest.get(gateway, 0))
            if len(page) < PAGE:
                return highest
            start = "(" + page[-1][0]

    def seed(self, marks: Mapping[str, int], *, token: int) -> None:
        stream = self._config.stream
        script_keys = [keys.fence_key(stream), keys.marks_key(stream), keys.seeded_key(stream)]
        pairs = [item for gateway, version in marks.items() for item in (gateway, version)]
        chunks = [pairs[i : i + 2 * PAGE] for i in range(0, len(pairs), 2 * PAGE)] or [[]]
        with redis_errors("Redis refused the marks"):
            for number, chunk in enumerate(chunks, start=1):
                last = "1" if number == len(chunks) else "0"
                self._scripts.run(SEED_SCRIPT, script_keys, [token, last, *chunk])


def _escaped(prefix: str) -> str:
    """A glob pattern matching `prefix` literally."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
