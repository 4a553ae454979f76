"""The Redis side of the provisioner: its consumer group, acks, reclaims and dead letters.

The only module of the provisioner that touches redis-py: errors leave it as our typed ones, and
a group that vanished (NOGROUP, after a FLUSHALL or a stream deletion) is recreated on the spot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis

from outbox.errors import BackendUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

Entry = tuple[str, dict[str, str]]


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


class GroupStream:
    def __init__(
        self,
        client: redis.Redis[Any],
        *,
        stream: str,
        group: str,
        consumer: str,
        dead_letters: str,
        dead_letters_maxlen: int = 100_000,
    ) -> None:
        # redis-py annotates its replies for the sync and async clients at once (unions with
        # Awaitable); the replies are shaped here, so the client is used untyped.
        self._redis: Any = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.dead_letters_maxlen = dead_letters_maxlen

    def ensure_group(self) -> None:
        """Create the group at 0 (so entries written before it existed are read too)."""
        with redis_errors():
            try:
                self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
                log.info("created consumer group %s on %s", self.group, self.stream)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        response = self._group_call(
            lambda: self._redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        )
        return [
            (entry_id, fields or {})
            for _, entries in response or []
            for entry_id, fields in entries
        ]

    def claim_own_pending(self, *, count: int) -> list[Claimed]:
        """Entries delivered to this consumer and never acked (it died or failed on them).

        Claimed again (not re-read) so their delivery count grows: an entry that kills the
        handler every time still reaches the dead-letter stream.
        """
        return self.claim_pending_of(self.consumer, count=count)

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        """Take over every entry pending under `consumer` now, however short its idle time:
        for a consumer known to be gone, waiting out the reclaim idle time only delays."""
        pending = self._group_call(
            lambda: self._redis.xpending_range(
                self.stream, self.group, min="-", max="+", count=count, consumername=consumer
            )
        )
        ids = [item["message_id"] for item in pending]
        return self._claim(ids, min_idle_ms=0)

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        """Entries left pending by any consumer (a dead one, or this one) for too long."""
        response = self._group_call(
            lambda: self._redis.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_ms, start_id="0-0", count=count
            )
        )
        entries = response[1] if response else []
        deliveries = self._deliveries([entry_id for entry_id, _ in entries])
        return [
            Claimed(entry_id, fields or None, deliveries.get(entry_id, 1))
            for entry_id, fields in entries
        ]

    def _claim(self, ids: list[str], *, min_idle_ms: int) -> list[Claimed]:
        if not ids:
            return []
        entries = self._group_call(
            lambda: self._redis.xclaim(self.stream, self.group, self.consumer, min_idle_ms, ids)
        )
        found = {entry_id: fields for entry_id, fields in entries}
        deliveries = self._deliveries(ids)
        return [
            Claimed(entry_id, found.get(entry_id) or None, deliveries.get(entry_id, 1))
            for entry_id in ids
        ]

    def _deliveries(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        pending = self._group_call(
            lambda: self._redis.xpending_range(
                self.stream,
                self.group,
                min=min(ids, key=_order),
                max=max(ids, key=_order),
                count=len(ids) * 4,
            )
        )
        wanted = set(ids)
        return {
            item["message_id"]: int(item["times_delivered"])
            for item in pending
            if item["message_id"] in wanted
        }

    def ack(self, *entry_ids: str) -> None:
        if entry_ids:
            self._group_call(lambda: self._redis.xack(self.stream, self.group, *entry_ids))

    def dead_letter(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        """Move an entry to the dead-letter stream with why, then ack it; both or neither."""
        record: dict[str, Any] = dict(fields or {})
        record.update(
            {
                "dlq_reason": reason,
                "dlq_entry_id": entry_id,
                "dlq_deliveries": str(deliveries),
                "dlq_consumer": self.consumer,
                "dlq_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
        )

        def move() -> None:
            pipeline = self._redis.pipeline(transaction=True)
            # Exact, not approximate, trimming: dead letters are rare, and a bound is a bound.
            pipeline.xadd(
                self.dead_letters, record, maxlen=self.dead_letters_maxlen, approximate=False
            )
            pipeline.xack(self.stream, self.group, entry_id)
            pipeline.execute()

        self._group_call(move)

    def consumers(self) -> list[ConsumerInfo]:
        infos = self._group_call(lambda: self._redis.xinfo_consumers(self.stream, self.group))
        return [
            ConsumerInfo(
                str(info["name"]),
                int(info["pending"]),
                int(info.get("inactive", info["idle"])) / 1000,
            )
            for info in infos
        ]

    def remove_consumer(self, name: str) -> None:
        self._group_call(lambda: self._redis.xgroup_delconsumer(self.stream, self.group, name))

    def ping(self) -> None:
        with redis_errors():
            self._redis.ping()

    def _group_call(self, call: Callable[[], T]) -> T:
        with redis_errors():
            try:
                return call()
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
            log.warning(
                "consumer group %s on %s is gone; recreating it at 0", self.group, self.stream
            )
            self.ensure_group()
            return call()


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Redis failures leave as BackendUnavailable (the command line's exit code 6)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise BackendUnavailable(f"Redis is unreachable: {error}") from error
    except redis.ResponseError as error:
        raise BackendUnavailable(f"Redis refused a command: {error}") from error
