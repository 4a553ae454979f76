"""Checks of what reached the partitions' streams: each event once, in its gateway's partition,
in version order per gateway."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from outbox.coordination.partition_count import write_record
from outbox.domain.clock import utcnow
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.partitions import partition_of
from outbox.store.port import OUTBOX, Store
from outbox.stream import EventStream, StreamConfig
from outbox.stream.keys import partition_streams

STREAM = "events:gateway"


def record_partitions(store: Store, count: int) -> None:
    """As `outbox init --partitions` records P on an empty database."""
    write_record(store, count, at=utcnow())


def partition_entries(
    stream: EventStream, partitions: int, base: str = STREAM
) -> dict[int, list[dict[str, str]]]:
    """Each partition's stream entries, oldest first."""
    return {
        n: [fields for _, fields in stream.with_config(StreamConfig(stream=name)).entries()]
        for n, name in enumerate(partition_streams(base, partitions))
    }


def assert_each_once_in_its_partition(
    stream: EventStream, partitions: int, expected: Iterable[str]
) -> None:
    """Every expected event once across the partitions, each in its gateway's partition, and
    the events of one gateway in version order."""
    seen: list[str] = []
    for partition, entries in partition_entries(stream, partitions).items():
        last: dict[str, int] = {}
        for fields in entries:
            gateway, version = fields["aggregate_id"], int(fields["version"])
            assert partition_of(gateway, partitions) == partition, (gateway, partition)
            assert version > last.get(gateway, 0), f"{gateway}: v{version} after v{last[gateway]}"
            last[gateway] = version
            seen.append(fields["event_id"])
    duplicates = sorted({i for i in seen if seen.count(i) > 1})
    assert not duplicates, f"published more than once: {duplicates[:5]}"
    missing = set(expected) - set(seen)
    assert not missing, f"never published: {sorted(missing)[:5]} ({len(missing)} in all)"


def insert_partitioned_events(
    store: Store, partitions: int, *, gateways: int, per_gateway: int, at: datetime
) -> list[OutboxEvent]:
    """Outbox rows written directly, stamped with their partition, versions interleaved."""
    events = [
        OutboxEvent(
            type=EventType.CREATED if version == 1 else EventType.SPEC_UPDATED,
            aggregate_id=f"gw_{gateway:04d}",
            version=version,
            occurred_at=at + timedelta(milliseconds=version * gateways + gateway),
            partition=partition_of(f"gw_{gateway:04d}", partitions),
        )
        for version in range(1, per_gateway + 1)
        for gateway in range(gateways)
    ]
    store.collection(OUTBOX).insert_many([event.to_document() for event in events])
    return events
