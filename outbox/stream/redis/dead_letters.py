"""The operators' side of `RedisStream`: the dead-letter stream and the figures of `status`.

Dead-lettering (add the record, ack the entry) and replaying (add the original fields back to
the main stream as a new entry, delete the record) are each one script over the two streams
(`redis_letter_scripts`), so both or neither happen, and two operators replaying the same id
publish it once. The first call moves the dead letters an older release left under the old
name (`redis_legacy_letters`).
"""

from __future__ import annotations

import logging
from typing import Any

from outbox.domain.errors import NotFound
from outbox.stream.port import StreamConfig
from outbox.stream.records import (
    ConsumerPending,
    DeadLetter,
    GroupStatus,
    ReplayReport,
    StreamStatus,
    checked_entry_id,
    replayable_fields,
)
from outbox.stream.redis.errors import redis_errors
from outbox.stream.redis.legacy_letters import move_legacy_dead_letters
from outbox.stream.redis.letter_scripts import DEAD_LETTER_SCRIPT, REPLAY_SCRIPT
from outbox.stream.redis.scripts import Scripts

log = logging.getLogger(__name__)


class RedisDeadLetters:
    def __init__(self, client: Any, config: StreamConfig, scripts: Scripts) -> None:
        self._redis = client
        self._config = config
        self._scripts = scripts
        self._moved = False

    def _move_legacy(self) -> None:
        """Once per view: one EXISTS when there is nothing to move."""
        if not self._moved:
            move_legacy_dead_letters(self._redis, self._scripts, self._config)
            self._moved = True

    def add(self, entry_id: str, record: dict[str, str]) -> None:
        """Dead-letter `record` and ack `entry_id`, atomically. Redis errors pass through
        untranslated: the caller recreates a vanished group and tries again."""
        config = self._config
        self._move_legacy()
        pairs = [item for name, value in record.items() for item in (name, value)]
        self._scripts.run(
            DEAD_LETTER_SCRIPT,
            [config.stream, config.dead_letters],
            [config.group, entry_id, config.dead_letters_maxlen, *pairs],
        )

    def count(self) -> int:
        with redis_errors():
            self._move_legacy()
            return int(self._redis.xlen(self._config.dead_letters))

    def latest(self, limit: int) -> list[DeadLetter]:
        with redis_errors():
            self._move_legacy()
            records = self._redis.xrevrange(self._config.dead_letters, "+", "-", count=limit)
        return [DeadLetter.from_record(record_id, fields) for record_id, fields in records]

    def get(self, record_id: str) -> DeadLetter:
        with redis_errors():
            self._move_legacy()
            records = self._redis.xrange(
                self._config.dead_letters, checked_entry_id(record_id), record_id
            )
        if not records:
            raise NotFound(f"no dead letter {record_id} in {self._config.dead_letters}")
        return DeadLetter.from_record(*records[0])

    def replay(self, record_id: str) -> str:
        fields = replayable_fields(record_id, self.get(record_id).fields)
        pairs = [item for name, value in fields.items() for item in (name, value)]
        with redis_errors():
            new_id = self._scripts.run(
                REPLAY_SCRIPT, [self._config.dead_letters, self._config.stream], [record_id, *pairs]
            )
        if new_id is None:
            raise NotFound(f"no dead letter {record_id} in {self._config.dead_letters}")
        log.info("dead letter %s replayed onto %s as %s", record_id, self._config.stream, new_id)
        return str(new_id)

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        with redis_errors():
            self._move_legacy()
            last = self._redis.xrevrange(self._config.dead_letters, "+", "-", count=1)
        report = ReplayReport()
        if not last:
            return report
        until, start = last[0][0], "-"
        while True:
            with redis_errors():
                records = self._redis.xrange(self._config.dead_letters, start, until, count=batch)
            report.replay_each((record_id for record_id, _ in records), self.replay)
            if len(records) < batch:
                return report
            start = "(" + records[-1][0]

    def drop(self, record_id: str) -> None:
        with redis_errors():
            self._move_legacy()
            deleted = self._redis.xdel(self._config.dead_letters, checked_entry_id(record_id))
        if not deleted:
            raise NotFound(f"no dead letter {record_id} in {self._config.dead_letters}")
        log.info("dead letter %s dropped from %s", record_id, self._config.dead_letters)


def stream_status(
    client: Any, config: StreamConfig, letters: RedisDeadLetters, *, latest: int
) -> StreamStatus:
    with redis_errors():
        length = int(client.xlen(config.stream))
        last = client.xrevrange(config.stream, "+", "-", count=1)
        group = _group(client, config) if client.exists(config.stream) else None
    return StreamStatus(
        stream=config.stream,
        length=length,
        last_entry_id=last[0][0] if last else None,
        group=group,
        dead_letter_stream=config.dead_letters,
        dead_letters=letters.count(),
        latest_dead_letters=letters.latest(latest),
    )


def _group(client: Any, config: StreamConfig) -> GroupStatus | None:
    groups: list[dict[str, Any]] = client.xinfo_groups(config.stream)
    info = next((item for item in groups if item["name"] == config.group), None)
    if info is None:
        return None
    summary: dict[str, Any] = client.xpending(config.stream, config.group)
    per_consumer = [
        ConsumerPending(str(item["name"]), int(item["pending"]))
        for item in summary.get("consumers") or []
    ]
    return GroupStatus(
        name=config.group,
        consumers=int(info["consumers"]),
        pending=int(summary.get("pending") or 0),
        # `lag` and `entries-read` exist from Redis 7; lag is null after deletions in the
        # undelivered part of the stream, when Redis cannot count it cheaply.
        lag=_optional_int(info.get("lag")),
        entries_read=_optional_int(info.get("entries-read")),
        last_delivered_id=str(info["last-delivered-id"]),
        oldest_pending_id=summary.get("min"),
        pending_per_consumer=sorted(per_consumer, key=lambda item: (-item.pending, item.name)),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
