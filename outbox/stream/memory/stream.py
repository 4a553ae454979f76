"""`MemoryStream`: the stream port in process memory, the stand-in for Redis (demo and tests).

It keeps Redis's semantics where the daemons rely on them: ids `ms-seq` that only grow, a
consumer group with its last-delivered id and a pending list (owner, delivery count, idle time),
blocking reads, XAUTOCLAIM handing back deleted entries with no fields, the high-water marks
(and their seeding), the fencing token, approximate MAXLEN (here exact) and the dead-letter
stream's exact bound.

Thread-safe: the views of one stream (`with_config`, one per daemon) share one lock. `outage()`
makes every call raise `StreamUnavailable`, to test the daemons against a stream that is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from outbox.domain.errors import InvalidInput, NotFound
from outbox.domain.events import REDELIVERED, OutboxEvent
from outbox.stream.errors import Fenced, MarksUnseeded, StreamUnavailable
from outbox.stream.memory.log import Group, Log
from outbox.stream.memory.status import stream_status
from outbox.stream.port import StreamConfig
from outbox.stream.publish_script import fenced, too_large, unseeded
from outbox.stream.records import (
    Claimed,
    ConsumerInfo,
    DeadLetter,
    Entry,
    Publication,
    PublishedRecord,
    ReplayReport,
    StreamStatus,
    checked_entry_id,
    dead_letter_record,
    entry_order,
    replayable_fields,
)

log = logging.getLogger(__name__)


class _Shared:
    """What the views of one in-memory stream share."""

    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float]) -> None:
        self.changed = threading.Condition()
        self.logs: dict[str, Log] = {}
        self.fences: dict[str, int] = {}
        self.marks: dict[str, dict[str, int]] = {}  # by stream: gateway → highest version
        self.seeded: set[str] = set()  # streams whose marks hold everything published
        self.down = False
        self.monotonic = monotonic
        self.wall = wall

    def log(self, name: str) -> Log:
        return self.logs.setdefault(name, Log())

    def now_ms(self) -> int:
        return int(self.wall() * 1000)

    def fence(self, stream: str, token: int) -> None:
        fence = self.fences.get(stream, 0)
        if token < fence:
            raise Fenced(f"the stream refused the relay: {fenced(token, fence)}")
        self.fences[stream] = token

    def check_seeded(self, stream: str) -> None:
        """As the script: a stream with entries but without seeded marks is refused."""
        if stream in self.seeded:
            return
        if (stream in self.logs and self.logs[stream].entries) or stream in self.marks:
            raise MarksUnseeded(unseeded(stream))
        self.seeded.add(stream)


class MemoryStream:
    def __init__(
        self,
        config: StreamConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._shared = _Shared(monotonic, wall)
        self._config = config or StreamConfig()

    @property
    def config(self) -> StreamConfig:
        return self._config

    def with_config(self, config: StreamConfig) -> MemoryStream:
        view = MemoryStream(config)
        view._shared = self._shared
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

    @contextmanager
    def _locked(self) -> Iterator[_Shared]:
        with self._shared.changed:
            self._check_up()
            yield self._shared

    def _check_up(self) -> None:
        if self._shared.down:
            raise StreamUnavailable("the in-memory stream is down (a simulated outage)")

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        if not events:
            return []
        with self._locked() as shared:
            shared.fence(self._config.stream, token)
            shared.check_seeded(self._config.stream)
            failed: set[str] = set()
            publications = [self._publish_one(shared, event, failed) for event in events]
            shared.changed.notify_all()
        return publications

    def _publish_one(self, shared: _Shared, event: OutboxEvent, failed: set[str]) -> Publication:
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
        with self._locked() as shared:
            marks = shared.marks.get(self._config.stream, {})
            return {gateway: marks[gateway] for gateway in gateways if gateway in marks}

    def published_record(self, *, token: int) -> PublishedRecord:
        highest: dict[str, int] = {}
        for _, fields in self.entries():
            gateway, version = fields.get("aggregate_id"), fields.get("version", "")
            if gateway and version.isdigit():
                highest[gateway] = max(int(version), highest.get(gateway, 0))
        return PublishedRecord(versions=highest)  # no release kept dedupe keys here

    def seed_marks(self, marks: Mapping[str, int], *, token: int) -> None:
        with self._locked() as shared:
            shared.fence(self._config.stream, token)
            known = shared.marks.setdefault(self._config.stream, {})
            for gateway, version in marks.items():
                known[gateway] = max(version, known.get(gateway, 0))
            shared.seeded.add(self._config.stream)

    def redeliver(self, events: Sequence[OutboxEvent]) -> list[str]:
        with self._locked() as shared:
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
        with self._locked() as shared:
            self._group(shared, create=True)

    def _group(self, shared: _Shared, *, create: bool = False) -> Group:
        stream = shared.log(self._config.stream)
        group = stream.groups.get(self._config.group)
        if group is None:
            if not create:  # as the Redis adapter does on NOGROUP
                log.warning(
                    "consumer group %s on %s is gone; recreating it at 0",
                    self._config.group,
                    self._config.stream,
                )
            group = stream.groups[self._config.group] = Group()
        return group

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        deadline = None if not block_ms else time.monotonic() + block_ms / 1000
        with self._locked() as shared:
            while True:
                entries = self._deliver_new(shared, count)
                if entries or block_ms is None:
                    return entries
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                shared.changed.wait(remaining)
                self._check_up()

    def _deliver_new(self, shared: _Shared, count: int) -> list[Entry]:
        group, now = self._group(shared), shared.monotonic()
        stream = shared.log(self._config.stream)
        group.consumers[self._config.consumer] = now
        ids = stream.after(group.last_delivered, count)
        for entry_id in ids:
            group.deliver(entry_id, self._config.consumer, now)
        if ids:
            group.last_delivered = max(group.last_delivered, entry_order(ids[-1]))
            group.entries_read += len(ids)
        return [(entry_id, dict(stream.entries[entry_id])) for entry_id in ids]

    def claim_own_pending(self, *, count: int) -> list[Claimed]:
        return self.claim_pending_of(self._config.consumer, count=count)

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        with self._locked() as shared:
            group = self._group(shared)
            return self._claim(shared, group, group.pending_of(consumer)[:count])

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        with self._locked() as shared:
            group, now = self._group(shared), shared.monotonic()
            idle = [
                entry_id
                for entry_id, pending in group.pending.items()
                if (now - pending.delivered_at) * 1000 >= min_idle_ms
            ]
            return self._claim(shared, group, idle[:count])

    def _claim(self, shared: _Shared, group: Group, ids: list[str]) -> list[Claimed]:
        stream, now = shared.log(self._config.stream), shared.monotonic()
        group.consumers[self._config.consumer] = now
        claimed = []
        for entry_id in ids:
            fields = stream.entries.get(entry_id)
            if fields is None:  # deleted or trimmed: out of the pending list, as in Redis 7
                group.pending.pop(entry_id, None)
                claimed.append(Claimed(entry_id, None, 1))
                continue
            deliveries = group.deliver(entry_id, self._config.consumer, now)
            claimed.append(Claimed(entry_id, dict(fields), deliveries))
        return claimed

    def ack(self, *entry_ids: str) -> None:
        with self._locked() as shared:
            group = self._group(shared)
            for entry_id in entry_ids:
                group.pending.pop(entry_id, None)

    def dead_letter(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        config = self._config
        with self._locked() as shared:
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
            self._group(shared).pending.pop(entry_id, None)

    def consumers(self) -> list[ConsumerInfo]:
        with self._locked() as shared:
            group, now = self._group(shared), shared.monotonic()
            return [
                ConsumerInfo(name, len(group.pending_of(name)), max(0.0, now - seen))
                for name, seen in group.consumers.items()
            ]

    def remove_consumer(self, name: str) -> None:
        with self._locked() as shared:
            group = self._group(shared)
            for entry_id in group.pending_of(name):
                del group.pending[entry_id]
            group.consumers.pop(name, None)

    # -- dead letters ---------------------------------------------------------------------------

    def dead_letter_count(self) -> int:
        with self._locked() as shared:
            return len(shared.log(self._config.dead_letters).entries)

    def latest_dead_letters(self, limit: int) -> list[DeadLetter]:
        with self._locked() as shared:
            records = shared.log(self._config.dead_letters).entries
            newest = list(reversed(records))[:limit]
            return [DeadLetter.from_record(record_id, records[record_id]) for record_id in newest]

    def get_dead_letter(self, record_id: str) -> DeadLetter:
        with self._locked() as shared:
            record = self._record(shared, checked_entry_id(record_id))
            return DeadLetter.from_record(record_id, record)

    def _record(self, shared: _Shared, record_id: str) -> dict[str, str]:
        record = shared.log(self._config.dead_letters).entries.get(record_id)
        if record is None:
            raise NotFound(f"no dead letter {record_id} in {self._config.dead_letters}")
        return record

    def replay(self, record_id: str) -> str:
        checked_entry_id(record_id)
        with self._locked() as shared:
            fields = replayable_fields(record_id, self._record(shared, record_id))
            new_id = shared.log(self._config.stream).add(fields, shared.now_ms())
            del shared.log(self._config.dead_letters).entries[record_id]
            shared.changed.notify_all()
        log.info("dead letter %s replayed onto %s as %s", record_id, self._config.stream, new_id)
        return new_id

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        with self._locked() as shared:
            present = list(shared.log(self._config.dead_letters).entries)
        report = ReplayReport()
        for record_id in present:
            try:
                report.replayed.append((record_id, self.replay(record_id)))
            except NotFound:
                continue  # replayed or dropped by someone else meanwhile
            except InvalidInput as refusal:
                report.skipped.append((record_id, str(refusal)))
        return report

    def drop(self, record_id: str) -> None:
        with self._locked() as shared:
            self._record(shared, checked_entry_id(record_id))
            del shared.log(self._config.dead_letters).entries[record_id]
        log.info("dead letter %s dropped from %s", record_id, self._config.dead_letters)

    # -- looking --------------------------------------------------------------------------------

    def entries(self, *, count: int | None = None) -> list[Entry]:
        with self._locked() as shared:
            stream = shared.logs.get(self._config.stream)
            found = list(stream.entries.items()) if stream else []
            return [(entry_id, dict(fields)) for entry_id, fields in found[:count]]

    def add(self, fields: dict[str, str]) -> str:
        """Append raw fields (as an operator or a foreign writer would); the new entry id."""
        with self._locked() as shared:
            entry_id = shared.log(self._config.stream).add(fields, shared.now_ms())
            shared.changed.notify_all()
            return entry_id

    def delete(self, *entry_ids: str) -> None:
        """Delete entries from the stream (as a trim or an operator would)."""
        with self._locked() as shared:
            for entry_id in entry_ids:
                shared.log(self._config.stream).entries.pop(entry_id, None)

    def delete_stream(self) -> None:
        """Delete the stream with its group, as DEL or FLUSHALL would do to Redis's."""
        with self._locked() as shared:
            shared.logs.pop(self._config.stream, None)

    def status(self, *, latest: int = 5) -> StreamStatus:
        with self._locked() as shared:
            return stream_status(shared.logs, self._config, self.latest_dead_letters(latest))

    def ping(self) -> None:
        with self._locked():
            pass

    def close(self) -> None:
        """Nothing to release: the data lives as long as the object."""
