"""What the stream port hands back: publications, claimed entries, dead letters, status figures.

A dead-letter record is the original entry's fields plus `dlq_reason`, `dlq_entry_id`,
`dlq_deliveries`, `dlq_consumer` and `dlq_at`; both adapters write and read that one format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from outbox.domain.errors import InvalidInput, NotFound

Entry = tuple[str, dict[str, str]]  # (entry id, fields)

DLQ_PREFIX = "dlq_"
_ENTRY_ID = re.compile(r"^\d+-\d+$")


@dataclass(frozen=True)
class Publication:
    """What happened to one published event: in the stream (new or already there), held back
    because its gateway's previous event did not make it, or rejected."""

    event_id: str
    entry_id: str | None = None
    duplicate: bool = False
    held: bool = False
    error: str | None = None

    @property
    def published(self) -> bool:
        return self.error is None and not self.held


@dataclass(frozen=True)
class PublishedRecord:
    """What a stream knows was published: for seeding the high-water marks."""

    versions: dict[str, int] = field(default_factory=dict)  # gateway → highest version in it
    event_ids: list[str] = field(default_factory=list)  # ids remembered by per-event keys


@dataclass(frozen=True)
class Claimed:
    entry_id: str
    fields: dict[str, str] | None  # None: the entry was trimmed or deleted from the stream
    deliveries: int


@dataclass(frozen=True)
class ConsumerInfo:
    name: str
    pending: int
    idle_seconds: float


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

    def replay_each(self, record_ids: Iterable[str], replay: Callable[[str], str]) -> None:
        """Replay these dead letters one by one, noting each outcome; one that another operator
        replayed or dropped meanwhile is passed over, one refused is noted as skipped."""
        for record_id in record_ids:
            try:
                self.replayed.append((record_id, replay(record_id)))
            except NotFound:
                continue
            except InvalidInput as refusal:
                self.skipped.append((record_id, str(refusal)))


@dataclass(frozen=True)
class ConsumerPending:
    name: str
    pending: int


@dataclass(frozen=True)
class GroupStatus:
    name: str
    consumers: int
    pending: int  # delivered, not yet acked
    lag: int | None  # entries not yet delivered to the group; None when the stream cannot tell
    entries_read: int | None
    last_delivered_id: str
    oldest_pending_id: str | None
    pending_per_consumer: list[ConsumerPending]


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    length: int
    last_entry_id: str | None
    group: GroupStatus | None  # None: no provisioner has joined yet
    dead_letter_stream: str
    dead_letters: int
    latest_dead_letters: list[DeadLetter]


def dead_letter_record(
    fields: dict[str, str] | None,
    *,
    entry_id: str,
    reason: str,
    deliveries: int,
    consumer: str,
    at: str,
) -> dict[str, str]:
    """The original fields plus why and when they were given up on."""
    return {
        **(fields or {}),
        "dlq_reason": reason,
        "dlq_entry_id": entry_id,
        "dlq_deliveries": str(deliveries),
        "dlq_consumer": consumer,
        "dlq_at": at,
    }


def original_fields(record: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in record.items() if not key.startswith(DLQ_PREFIX)}


def replayable_fields(record_id: str, record: dict[str, str]) -> dict[str, str]:
    """What a replay puts back on the main stream; refuses a record that kept nothing."""
    fields = original_fields(record)
    if not fields:
        raise InvalidInput(
            f"dead letter {record_id} kept no fields of the original entry "
            "(it was gone from the stream); nothing to replay, drop it"
        )
    return fields


def checked_entry_id(entry_id: str) -> str:
    if not _ENTRY_ID.match(entry_id):
        raise InvalidInput(f"{entry_id!r} is not a stream entry id (like 1767225600000-0)")
    return entry_id


def entry_order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)
