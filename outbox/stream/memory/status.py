"""The figures of `outbox status`, worked out from the in-memory stream's data."""

from __future__ import annotations

from outbox.stream.memory.log import Group, Log, id_text
from outbox.stream.port import StreamConfig
from outbox.stream.records import ConsumerPending, DeadLetter, GroupStatus, StreamStatus


def stream_status(
    logs: dict[str, Log], config: StreamConfig, latest: list[DeadLetter]
) -> StreamStatus:
    stream = logs.get(config.stream)
    letters = logs.get(config.dead_letters)
    group = stream.groups.get(config.group) if stream else None
    return StreamStatus(
        stream=config.stream,
        length=len(stream.entries) if stream else 0,
        last_entry_id=stream.last_entry_id() if stream else None,
        group=_group(config.group, group, stream) if group and stream else None,
        dead_letter_stream=config.dead_letters,
        dead_letters=len(letters.entries) if letters else 0,
        latest_dead_letters=latest,
    )


def _group(name: str, group: Group, stream: Log) -> GroupStatus:
    per_consumer: dict[str, int] = {}
    for pending in group.pending.values():
        per_consumer[pending.consumer] = per_consumer.get(pending.consumer, 0) + 1
    return GroupStatus(
        name=name,
        consumers=len(group.consumers),
        pending=len(group.pending),
        lag=len(stream.after(group.last_delivered, len(stream.entries))),
        entries_read=group.entries_read,
        last_delivered_id=id_text(group.last_delivered),
        oldest_pending_id=next(iter(group.pending), None),
        pending_per_consumer=sorted(
            (ConsumerPending(consumer, count) for consumer, count in per_consumer.items()),
            key=lambda item: (-item.pending, item.name),
        ),
    )
