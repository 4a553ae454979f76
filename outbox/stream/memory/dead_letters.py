"""The operators' side of `MemoryStream`: the dead-letter stream, exactly bounded.

Replaying adds a record's original fields back to the main stream as a new entry and deletes
the record, under the one lock, so two operators replaying the same id publish it once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from outbox.domain.errors import NotFound
from outbox.stream.memory.shared import Shared
from outbox.stream.port import StreamConfig
from outbox.stream.records import (
    DeadLetter,
    ReplayReport,
    checked_entry_id,
    dead_letter_record,
    replayable_fields,
)

log = logging.getLogger(__name__)


class MemoryDeadLetters:
    def __init__(self, shared: Shared, config: StreamConfig) -> None:
        self._shared = shared
        self._config = config

    def add(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        """The record of an entry given up on; the caller acks the entry under the same lock."""
        config = self._config
        with self._shared.locked() as shared:
            record = dead_letter_record(
                fields,
                entry_id=entry_id,
                reason=reason,
                deliveries=deliveries,
                consumer=config.consumer,
                at=datetime.fromtimestamp(shared.wall(), UTC).isoformat(timespec="milliseconds"),
            )
            letters = shared.log(config.dead_letters)
            letters.add(record, shared.now_ms())
            letters.trim(config.dead_letters_maxlen)

    def count(self) -> int:
        with self._shared.locked() as shared:
            return len(shared.log(self._config.dead_letters).entries)

    def latest(self, limit: int) -> list[DeadLetter]:
        with self._shared.locked() as shared:
            records = shared.log(self._config.dead_letters).entries
            newest = list(reversed(records))[:limit]
            return [DeadLetter.from_record(record_id, records[record_id]) for record_id in newest]

    def get(self, record_id: str) -> DeadLetter:
        with self._shared.locked():
            record = self._record(checked_entry_id(record_id))
            return DeadLetter.from_record(record_id, record)

    def replay(self, record_id: str) -> str:
        checked_entry_id(record_id)
        with self._shared.locked() as shared:
            fields = replayable_fields(record_id, self._record(record_id))
            new_id = shared.log(self._config.stream).add(fields, shared.now_ms())
            del shared.log(self._config.dead_letters).entries[record_id]
            shared.changed.notify_all()
        log.info("dead letter %s replayed onto %s as %s", record_id, self._config.stream, new_id)
        return new_id

    def replay_all(self) -> ReplayReport:
        with self._shared.locked() as shared:
            present = list(shared.log(self._config.dead_letters).entries)
        report = ReplayReport()
        report.replay_each(present, self.replay)
        return report

    def drop(self, record_id: str) -> None:
        with self._shared.locked() as shared:
            self._record(checked_entry_id(record_id))
            del shared.log(self._config.dead_letters).entries[record_id]
        log.info("dead letter %s dropped from %s", record_id, self._config.dead_letters)

    def _record(self, record_id: str) -> dict[str, str]:
        record = self._shared.log(self._config.dead_letters).entries.get(record_id)
        if record is None:
            raise NotFound(f"no dead letter {record_id} in {self._config.dead_letters}")
        return record
