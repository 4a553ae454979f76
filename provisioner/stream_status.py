"""The Redis half of `outbox status`: the stream, the consumer group's lag and pending entries,
and the dead-letter stream with its latest reasons. Read-only: it never creates the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from provisioner.dead_letters import DeadLetter, DeadLetters
from provisioner.stream import redis_errors


@dataclass(frozen=True)
class ConsumerPending:
    name: str
    pending: int


@dataclass(frozen=True)
class GroupStatus:
    name: str
    consumers: int
    pending: int  # delivered, not yet acked
    lag: int | None  # entries not yet delivered to the group; None when Redis cannot tell
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


def stream_status(
    client: redis.Redis[str], *, stream: str, group: str, dead_letters: str, latest: int = 5
) -> StreamStatus:
    letters = DeadLetters(client, stream=stream, dead_letters=dead_letters)
    with redis_errors():
        length = int(client.xlen(stream))
        last = client.xrevrange(stream, "+", "-", count=1)
        group_status = _group(client, stream, group) if client.exists(stream) else None
    return StreamStatus(
        stream=stream,
        length=length,
        last_entry_id=last[0][0] if last else None,
        group=group_status,
        dead_letter_stream=dead_letters,
        dead_letters=letters.count(),
        latest_dead_letters=letters.latest(latest),
    )


def _group(client: redis.Redis[str], stream: str, group: str) -> GroupStatus | None:
    groups: list[dict[str, Any]] = client.xinfo_groups(stream)  # type: ignore[no-untyped-call]
    info = next((item for item in groups if item["name"] == group), None)
    if info is None:
        return None
    summary: dict[str, Any] = client.xpending(stream, group)  # type: ignore[no-untyped-call]
    per_consumer = [
        ConsumerPending(str(item["name"]), int(item["pending"]))
        for item in summary.get("consumers") or []
    ]
    return GroupStatus(
        name=group,
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
