"""`MemoryStream`: the stream port in process memory, the stand-in for Redis (demo and tests).

It keeps Redis's semantics where the daemons rely on them: ids `ms-seq` that only grow, a
consumer group with its last-delivered id and a pending list (owner, delivery count, idle time),
blocking reads, XAUTOCLAIM handing back deleted entries with no fields (`groups`), the
high-water marks (and their seeding), the fencing token, approximate MAXLEN (here exact) and the
dead-letter stream's exact bound (`dead_letters`).

Thread-safe: the views of one stream (`with_config`, one per daemon) share one lock (`shared`).
`outage()` makes every call raise `StreamUnavailable`, to test the daemons against a stream
that is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from outbox.domain.events import REDELIVERED, OutboxEvent
from outbox.stream.memory.dead_letters import MemoryDeadLetters
from outbox.stream.memory.groups import MemoryGroup
from outbox.stream.memory.shared import Shared
from outbox.stream.memory.status import stream_status
from outbox.stream.port import StreamConfig
from outbox.stream.publish_script import too_large
from outbox.stream.records import (
    Claimed,
    ConsumerInfo,
    DeadLetter,
    Entry,
    Publication,
    PublishedRecord,
    ReplayReport,
    StreamStatus,
)


class MemoryStream:
    def __init__(
        self,
        config: StreamConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._attach(Shared(monotonic, wall), config or StreamConfig())

    def _attach(self, shared: Shared, config: StreamConfig) -> None:
        self._shared = shared
        self._config = config
        self._group = MemoryGroup(shared, config)
        self._letters = MemoryDeadLetters(shared, config)

    @property
    def config(self) -> StreamConfig:
        return self._config

    def with_config(self, config: StreamConfig) -> MemoryStream:
        view = MemoryStream(config)
        view._attach(self._shared, config)
        return view

    # -- outages --------------------------------------------------------------------------------

    def down(self) -> None:
        with self._shared.changed:
            self._shared.down = True
            self._shared.changed.notify_all()

    def up(self) -> None:
        with self._shared.changed:
            self._shared.down = False

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Every call in the block raises StreamUnavailable, as with Redis unreachable."""
        self.down()
        try:
            yield
        finally:
            self.up()

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        if not events:
            return []
        with self._shared.locked() as shared:
            shared.fence(self._config.stream, token)
            shared.check_seeded(self._config.stream)
            failed: set[str] = set()
            publications = [self._publish_one(shared, event, failed) for event in events]
            shared.changed.notify_all()
        return publications

    def _publish_one(self, shared: Shared, event: OutboxEvent, failed: set[str]) -> Publication:
        config = self._config
        if event.aggregate_id in failed:
            return Publication(event.id, held=True)
        fields = event.stream_fields()
        size = sum(len(value.encode()) for value in fields.values())
        if size > config.max_entry_bytes:
            failed.add(event.aggregate_id)
            return Publication(event.id, error=too_large(size, config.max_entry_bytes))
        marks = shared.marks.setdefault(config.stream, {})
        if event.version <= marks.get(event.aggregate_id, 0):
            return Publication(event.id, duplicate=True)
        marks[event.aggregate_id] = event.version
        stream = shared.log(config.stream)
        entry_id = stream.add(fields, shared.now_ms())
        if config.maxlen > 0:
            stream.trim(config.maxlen)
        return Publication(event.id, entry_id=entry_id)

    def marks(self, gateways: Sequence[str]) -> dict[str, int]:
        with self._shared.locked() as shared:
            marks = shared.marks.get(self._config.stream, {})
            return {gateway: marks[gateway] for gateway in gateways if gateway in marks}

    def published_record(self, *, token: int) -> PublishedRecord:
        highest: dict[str, int] = {}
        for _, fields in self.entries():
            gateway = fields.get("aggregate_id")
            version = fields.get("version", "")
            if gateway and version.isdigit():
                highest[gateway] = max(int(version), highest.get(gateway, 0))
        return PublishedRecord(versions=highest)  # no release kept dedupe keys here

    def seed_marks(self, marks: Mapping[str, int], *, token: int) -> None:
        with self._shared.locked() as shared:
            shared.fence(self._config.stream, token)
            known = shared.marks.setdefault(self._config.stream, {})
            for gateway, version in marks.items():
                known[gateway] = max(version, known.get(gateway, 0))
            shared.seeded.add(self._config.stream)

    def redeliver(self, events: Sequence[OutboxEvent]) -> list[str]:
        with self._shared.locked() as shared:
            stream = shared.log(self._config.stream)
            ids = [
                stream.add({**event.stream_fields(), REDELIVERED: "1"}, shared.now_ms())
                for event in events
            ]
            if self._config.maxlen > 0:
                stream.trim(self._config.maxlen)
            shared.changed.notify_all()
        return ids

    # -- consuming ------------------------------------------------------------------------------

    def ensure_group(self) -> None:
        self._group.ensure()

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        return self._group.read_new(count=count, block_ms=block_ms)

    def claim_own_pending(self, *, count: int) -> list[Claimed]:
        return self._group.claim_pending_of(self._config.consumer, count=count)

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        return self._group.claim_pending_of(consumer, count=count)

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        return self._group.reclaim_idle(min_idle_ms=min_idle_ms, count=count)

    def ack(self, *entry_ids: str) -> None:
        self._group.ack(*entry_ids)

    def dead_letter(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        # The record and the ack under one hold of the lock, as Redis's script does both.
        with self._shared.locked():
            self._letters.add(entry_id, fields, reason, deliveries)
            self._group.ack(entry_id)

    def consumers(self) -> list[ConsumerInfo]:
        return self._group.consumers()

    def remove_consumer(self, name: str) -> None:
        self._group.remove_consumer(name)

    # -- dead letters ---------------------------------------------------------------------------

    def dead_letter_count(self) -> int:
        return self._letters.count()

    def latest_dead_letters(self, limit: int) -> list[DeadLetter]:
        return self._letters.latest(limit)

    def get_dead_letter(self, record_id: str) -> DeadLetter:
        return self._letters.get(record_id)

    def replay(self, record_id: str) -> str:
        return self._letters.replay(record_id)

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        return self._letters.replay_all()  # in memory, one batch holds them all

    def drop(self, record_id: str) -> None:
        self._letters.drop(record_id)

    # -- looking --------------------------------------------------------------------------------

    def entries(self, *, count: int | None = None) -> list[Entry]:
        with self._shared.locked() as shared:
            stream = shared.logs.get(self._config.stream)
            found = list(stream.entries.items()) if stream else []
            return [(entry_id, dict(fields)) for entry_id, fields in found[:count]]

    def add(self, fields: dict[str, str]) -> str:
        """Append raw fields (as an operator or a foreign writer would); the new entry id."""
        with self._shared.locked() as shared:
            entry_id = shared.log(self._config.stream).add(fields, shared.now_ms())
            shared.changed.notify_all()
            return entry_id

    def delete(self, *entry_ids: str) -> None:
        """Delete entries from the stream (as a trim or an operator would)."""
        with self._shared.locked() as shared:
            for entry_id in entry_ids:
                shared.log(self._config.stream).entries.pop(entry_id, None)

    def delete_stream(self) -> None:
        """Delete the stream with its group, as DEL or FLUSHALL would do to Redis's."""
        with self._shared.locked() as shared:
            shared.logs.pop(self._config.stream, None)

    def status(self, *, latest: int = 5) -> StreamStatus:
        with self._shared.locked() as shared:
            return stream_status(shared.logs, self._config, self._letters.latest(latest))

    def ping(self) -> None:
        with self._shared.locked():
            pass

    def close(self) -> None:
        """Nothing to release: the data lives as long as the object."""
