"""The dead-letter stream for operators: list it, replay entries onto the main stream, drop them.

A dead-letter record is the original entry's fields plus `dlq_reason`, `dlq_entry_id`,
`dlq_deliveries`, `dlq_consumer` and `dlq_at` (see `provisioner.stream`). A replay adds the
original fields back to the main stream as a new entry and deletes the record, in one MULTI
guarded by WATCH, so two operators replaying the same id publish it once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import cast

import redis

from outbox.errors import InvalidInput, NotFound
from provisioner.stream import redis_errors

log = logging.getLogger(__name__)

DLQ_PREFIX = "dlq_"
Records = list[tuple[str, dict[str, str]]]
_ENTRY_ID = re.compile(r"^\d+-\d+$")


@dataclass(frozen=True)
class DeadLetter:
    id: str  # the record's id in the dead-letter stream
    reason: str
    entry_id: str  # the original entry's id in the main stream
    deliveries: int
    consumer: str
    at: str
    fields: dict[str, str]  # the original fields, without the dlq_* ones

    @classmethod
    def from_record(cls, record_id: str, record: dict[str, str]) -> DeadLetter:
        return cls(
            id=record_id,
            reason=record.get("dlq_reason", ""),
            entry_id=record.get("dlq_entry_id", ""),
            deliveries=int(record.get("dlq_deliveries") or 0),
            consumer=record.get("dlq_consumer", ""),
            at=record.get("dlq_at", ""),
            fields=original_fields(record),
        )


@dataclass
class ReplayReport:
    replayed: list[tuple[str, str]] = field(default_factory=list)  # (record id, new entry id)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (record id, why)


def original_fields(record: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in record.items() if not key.startswith(DLQ_PREFIX)}


class DeadLetters:
    def __init__(self, client: redis.Redis[str], *, stream: str, dead_letters: str) -> None:
        self._redis = client
        self.stream = stream
        self.dead_letters = dead_letters

    def count(self) -> int:
        with redis_errors():
            return int(self._redis.xlen(self.dead_letters))

    def latest(self, limit: int) -> list[DeadLetter]:
        """The newest records first."""
        with redis_errors():
            records = self._redis.xrevrange(self.dead_letters, "+", "-", count=limit)
        return [DeadLetter.from_record(record_id, fields) for record_id, fields in records]

    def get(self, record_id: str) -> DeadLetter:
        with redis_errors():
            records = self._redis.xrange(self.dead_letters, _valid(record_id), record_id)
        if not records:
            raise NotFound(f"no dead letter {record_id} in {self.dead_letters}")
        return DeadLetter.from_record(*records[0])

    def replay(self, record_id: str) -> str:
        """Put the record's original fields back on the main stream; returns the new entry id."""
        _valid(record_id)
        with redis_errors(), self._redis.pipeline() as pipeline:
            while True:
                try:
                    new_id = self._move(pipeline, record_id)
                    break
                except redis.WatchError:
                    continue  # the DLQ changed between our read and the MULTI; read again
        log.info("dead letter %s replayed onto %s as %s", record_id, self.stream, new_id)
        return new_id

    def _move(self, pipeline: redis.client.Pipeline[str], record_id: str) -> str:
        pipeline.watch(self.dead_letters)
        # Between WATCH and MULTI the pipeline runs each command at once (the stubs say otherwise).
        records = cast(Records, pipeline.xrange(self.dead_letters, record_id, record_id))
        if not records:
            raise NotFound(f"no dead letter {record_id} in {self.dead_letters}")
        fields = original_fields(records[0][1])
        if not fields:
            raise InvalidInput(
                f"dead letter {record_id} kept no fields of the original entry "
                "(it was gone from the stream); nothing to replay, drop it"
            )
        pipeline.multi()
        pipeline.xadd(self.stream, fields)
        pipeline.xdel(self.dead_letters, record_id)
        new_id, _ = pipeline.execute()
        return str(new_id)

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        """Replay every record present when called, oldest first."""
        with redis_errors():
            last = self._redis.xrevrange(self.dead_letters, "+", "-", count=1)
        report = ReplayReport()
        if not last:
            return report
        until, start = last[0][0], "-"
        while True:
            with redis_errors():
                records = self._redis.xrange(self.dead_letters, start, until, count=batch)
            for record_id, _ in records:
                try:
                    report.replayed.append((record_id, self.replay(record_id)))
                except NotFound:
                    continue  # replayed or dropped by someone else meanwhile
                except InvalidInput as refusal:
                    report.skipped.append((record_id, str(refusal)))
            if len(records) < batch:
                return report
            start = "(" + records[-1][0]

    def drop(self, record_id: str) -> None:
        with redis_errors():
            deleted = self._redis.xdel(self.dead_letters, _valid(record_id))
        if not deleted:
            raise NotFound(f"no dead letter {record_id} in {self.dead_letters}")
        log.info("dead letter %s dropped from %s", record_id, self.dead_letters)


def _valid(record_id: str) -> str:
    if not _ENTRY_ID.match(record_id):
        raise InvalidInput(f"{record_id!r} is not a stream entry id (like 1767225600000-0)")
    return record_id
