"""The consumer-group side of `MemoryStream`: reading new entries in the group, claiming pending
ones (a consumer's own, a dead consumer's, idle ones), acking, and the group's consumers.

As Redis does, a vanished group is recreated at 0 (with a warning), and claiming an entry that
was deleted or trimmed hands it back without fields and takes it off the pending list.
"""

from __future__ import annotations

import logging
import time

from outbox.stream.memory.log import Group
from outbox.stream.memory.shared import Shared
from outbox.stream.port import StreamConfig
from outbox.stream.records import Claimed, ConsumerInfo, Entry, entry_order

log = logging.getLogger(__name__)


class MemoryGroup:
    """One view's group (`config.group` on `config.stream`), read as `config.consumer`."""

    def __init__(self, shared: Shared, config: StreamConfig) -> None:
        self._shared = shared
        self._config = config

    def ensure(self) -> None:
        with self._shared.locked():
            self._group(create=True)

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        deadline = None if not block_ms else time.monotonic() + block_ms / 1000
        with self._shared.locked() as shared:
            while True:
                entries = self._deliver_new(count)
                if entries or block_ms is None:
                    return entries
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                shared.changed.wait(remaining)
                shared.check_up()

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        with self._shared.locked():
            group = self._group()
            return self._claim(group, group.pending_of(consumer)[:count])

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        with self._shared.locked() as shared:
            group = self._group()
            now = shared.monotonic()
            idle = [
                entry_id
                for entry_id, pending in group.pending.items()
                if (now - pending.delivered_at) * 1000 >= min_idle_ms
            ]
            return self._claim(group, idle[:count])

    def ack(self, *entry_ids: str) -> None:
        with self._shared.locked():
            group = self._group()
            for entry_id in entry_ids:
                group.pending.pop(entry_id, None)

    def consumers(self) -> list[ConsumerInfo]:
        with self._shared.locked() as shared:
            group = self._group()
            now = shared.monotonic()
            return [
                ConsumerInfo(name, len(group.pending_of(name)), max(0.0, now - seen))
                for name, seen in group.consumers.items()
            ]

    def remove_consumer(self, name: str) -> None:
        with self._shared.locked():
            group = self._group()
            for entry_id in group.pending_of(name):
                del group.pending[entry_id]
            group.consumers.pop(name, None)

    def _group(self, *, create: bool = False) -> Group:
        stream = self._shared.log(self._config.stream)
        group = stream.groups.get(self._config.group)
        if group is None:
            if not create:  # as the Redis adapter does on NOGROUP
                log.warning(
                    "consumer group %s on %s is gone; recreating it at 0",
                    self._config.group,
                    self._config.stream,
                )
            group = Group()
            stream.groups[self._config.group] = group
        return group

    def _deliver_new(self, count: int) -> list[Entry]:
        group = self._group()
        now = self._shared.monotonic()
        stream = self._shared.log(self._config.stream)
        group.consumers[self._config.consumer] = now
        ids = stream.after(group.last_delivered, count)
        for entry_id in ids:
            group.deliver(entry_id, self._config.consumer, now)
        if ids:
            group.last_delivered = max(group.last_delivered, entry_order(ids[-1]))
            group.entries_read += len(ids)
        return [(entry_id, dict(stream.entries[entry_id])) for entry_id in ids]

    def _claim(self, group: Group, ids: list[str]) -> list[Claimed]:
        stream = self._shared.log(self._config.stream)
        now = self._shared.monotonic()
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
