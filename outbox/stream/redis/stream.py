"""`RedisStream`: the stream port on redis-server or a Redis Cluster (see `redis_connect`).

Every key of one stream shares its hash slot (`keys`), and everything that touches two of them
is one Lua script, so the same calls work on both. Publishing runs one script per batch (see
`publish_script`); the high-water marks are read and seeded in `redis_marks`. The consumer group
is read with XREADGROUP and reclaimed with XCLAIM/XAUTOCLAIM; a group that vanished (NOGROUP,
after a FLUSHALL or a stream deletion) is recreated on the spot. Dead letters and the status
figures are in `redis_dead_letters`. Errors leave as the port's typed ones (`redis_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from redis.exceptions import ResponseError

from outbox.domain.errors import InvalidInput
from outbox.domain.events import OPTIONAL_FIELDS, REDELIVERED, STREAM_FIELDS, OutboxEvent
from outbox.stream import keys
from outbox.stream.errors import ReplicasBehind
from outbox.stream.port import StreamConfig
from outbox.stream.publish_script import HELD, PUBLISH_SCRIPT, PUBLISHED, REFUSED
from outbox.stream.records import (
    Claimed,
    ConsumerInfo,
    DeadLetter,
    Entry,
    Publication,
    PublishedRecord,
    ReplayReport,
    StreamStatus,
    dead_letter_record,
    entry_order,
)
from outbox.stream.redis.connect import ConnectOnFirstUse, cluster_client
from outbox.stream.redis.dead_letters import RedisDeadLetters, stream_status
from outbox.stream.redis.errors import redis_errors, reply_of
from outbox.stream.redis.marks import RedisMarks
from outbox.stream.redis.scripts import Scripts
from outbox.stream.replies import Reply

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisStream:
    def __init__(self, client: Any, config: StreamConfig | None = None) -> None:
        """`client`: a `redis.Redis`, a `RedisCluster`, or one chosen on first use.

        redis-py annotates its replies for the sync and async clients at once (unions with
        Awaitable); the replies are shaped here, so the client is used untyped."""
        self._redis: Any = client
        self._config = config or StreamConfig()
        self._scripts = Scripts(client)
        self._letters = RedisDeadLetters(client, self._config, self._scripts)
        self._marks = RedisMarks(client, self._config, self._scripts)

    @classmethod
    def from_url(cls, url: str, config: StreamConfig | None = None) -> RedisStream:
        """A client that gives up on a dead server within seconds instead of hanging."""
        try:
            # Parsed now, so a malformed URL is refused at start rather than at the first call.
            redis.connection.parse_url(url)
        except ValueError as error:
            raise InvalidInput(f"OUTBOX_REDIS_URL is not a Redis URL: {error}") from None
        client = ConnectOnFirstUse(
            url,
            decode_responses=True,
            socket_timeout=10,
            socket_connect_timeout=3,
            health_check_interval=30,
        )
        return cls(client, config)

    @property
    def config(self) -> StreamConfig:
        return self._config

    def server_version(self) -> str:
        with redis_errors():
            return str(self._redis.info("server").get("redis_version", "?"))

    def with_config(self, config: StreamConfig) -> RedisStream:
        return RedisStream(self._redis, config)

    # -- publishing -----------------------------------------------------------------------------

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        if not events:
            return []
        config = self._config
        script_keys = [
            config.stream,
            keys.fence_key(config.stream),
            keys.marks_key(config.stream),
            keys.seeded_key(config.stream),
        ]
        names = (*STREAM_FIELDS, *OPTIONAL_FIELDS)
        args: list[str | int] = [token, config.maxlen, config.max_entry_bytes, len(names), *names]
        for event in events:
            fields = event.stream_fields()
            args += [fields[name] for name in STREAM_FIELDS]
            args += event.optional_values()  # the script leaves out the empty ones
        with redis_errors("Redis refused the batch"):
            replies = self._scripts.run(PUBLISH_SCRIPT, script_keys, args)
            if config.wait_replicas:
                self._wait_for_replicas()
        return [_publication(event, reply) for event, reply in zip(events, replies, strict=True)]

    def _wait_for_replicas(self) -> None:
        """WAIT on the stream's master: it counts the replicas that hold every write made so far
        on this connection (one thread publishes, and the pool hands it back the connection
        the script ran on)."""
        config = self._config
        cluster = cluster_client(self._redis)
        target = (
            {} if cluster is None else {"target_nodes": cluster.get_node_from_key(config.stream)}
        )
        acked = int(
            self._redis.execute_command(
                "WAIT", config.wait_replicas, config.wait_timeout_ms, **target
            )
        )
        if acked < config.wait_replicas:
            raise ReplicasBehind(
                f"{acked} of the {config.wait_replicas} replica(s) OUTBOX_REDIS_WAIT_REPLICAS asks "
                f"for acknowledged the publish to {config.stream} within "
                f"{config.wait_timeout_ms} ms"
            )

    def marks(self, gateways: Sequence[str]) -> dict[str, int]:
        return self._marks.marks(gateways)

    def published_record(self, *, token: int) -> PublishedRecord:
        return self._marks.published_record(token=token)

    def seed_marks(self, marks: Mapping[str, int], *, token: int) -> None:
        self._marks.seed(marks, token=token)

    def redeliver(self, events: Sequence[OutboxEvent]) -> list[str]:
        config = self._config
        with redis_errors():
            return [
                _text(
                    self._redis.xadd(
                        config.stream,
                        {**event.stream_fields(), REDELIVERED: "1"},
                        maxlen=config.maxlen or None,
                        approximate=True,
                    )
                )
                for event in events
            ]

    # -- consuming ------------------------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the group at 0 (so entries written before it existed are read too)."""
        config = self._config
        with redis_errors():
            try:
                self._redis.xgroup_create(config.stream, config.group, id="0", mkstream=True)
                log.info("created consumer group %s on %s", config.group, config.stream)
            except ResponseError as error:
                if reply_of(error) is not Reply.GROUP_EXISTS:
                    raise

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        config = self._config
        response = self._group_call(
            lambda: self._redis.xreadgroup(
                config.group, config.consumer, {config.stream: ">"}, count=count, block=block_ms
            )
        )
        return [
            (entry_id, fields or {})
            for _, entries in response or []
            for entry_id, fields in entries
        ]

    def claim_own_pending(self, *, count: int) -> list[Claimed]:
        # Claimed again (not re-read) so their delivery count grows: an entry that kills the
        # handler every time still reaches the dead-letter stream.
        return self.claim_pending_of(self._config.consumer, count=count)

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        config = self._config
        pending = self._group_call(
            lambda: self._redis.xpending_range(
                config.stream, config.group, min="-", max="+", count=count, consumername=consumer
            )
        )
        ids = [item["message_id"] for item in pending]
        if not ids:
            return []
        entries = self._group_call(
            lambda: self._redis.xclaim(config.stream, config.group, config.consumer, 0, ids)
        )
        found = {entry_id: fields for entry_id, fields in entries}
        deliveries = self._deliveries(ids)
        return [
            Claimed(entry_id, found.get(entry_id) or None, deliveries.get(entry_id, 1))
            for entry_id in ids
        ]

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        config = self._config
        response = self._group_call(
            lambda: self._redis.xautoclaim(
                config.stream, config.group, config.consumer, min_idle_ms, "0-0", count=count
            )
        )
        entries = response[1] if response else []
        # Redis 7 drops entries deleted from the stream from the pending list and names them
        # apart; older servers return them with no fields. Either way: fields None.
        deleted = response[2] if response and len(response) > 2 else []
        deliveries = self._deliveries([entry_id for entry_id, _ in entries])
        claimed = [
            Claimed(entry_id, fields or None, deliveries.get(entry_id, 1))
            for entry_id, fields in entries
        ]
        return claimed + [Claimed(entry_id, None, 1) for entry_id in deleted]

    def _deliveries(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        config = self._config
        pending = self._group_call(
            lambda: self._redis.xpending_range(
                config.stream,
                config.group,
                min=min(ids, key=entry_order),
                max=max(ids, key=entry_order),
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
        config = self._config
        if entry_ids:
            self._group_call(lambda: self._redis.xack(config.stream, config.group, *entry_ids))

    def dead_letter(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        config = self._config
        record = dead_letter_record(
            fields,
            entry_id=entry_id,
            reason=reason,
            deliveries=deliveries,
            consumer=config.consumer,
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )

        self._group_call(lambda: self._letters.add(entry_id, record))

    def consumers(self) -> list[ConsumerInfo]:
        config = self._config
        infos = self._group_call(lambda: self._redis.xinfo_consumers(config.stream, config.group))
        return [
            ConsumerInfo(
                str(info["name"]),
                int(info["pending"]),
                int(info.get("inactive", info["idle"])) / 1000,
            )
            for info in infos
        ]

    def remove_consumer(self, name: str) -> None:
        config = self._config
        self._group_call(lambda: self._redis.xgroup_delconsumer(config.stream, config.group, name))

    def _group_call(self, call: Callable[[], T]) -> T:
        with redis_errors():
            try:
                return call()
            except ResponseError as error:
                if reply_of(error) is not Reply.RECREATE_GROUP:
                    raise
            log.warning(
                "consumer group %s on %s is gone; recreating it at 0",
                self._config.group,
                self._config.stream,
            )
            self.ensure_group()
            return call()

    # -- dead letters, looking ------------------------------------------------------------------

    def dead_letter_count(self) -> int:
        return self._letters.count()

    def latest_dead_letters(self, limit: int) -> list[DeadLetter]:
        return self._letters.latest(limit)

    def get_dead_letter(self, record_id: str) -> DeadLetter:
        return self._letters.get(record_id)

    def replay(self, record_id: str) -> str:
        return self._letters.replay(record_id)

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        return self._letters.replay_all(batch=batch)

    def drop(self, record_id: str) -> None:
        self._letters.drop(record_id)

    def entries(self, *, count: int | None = None) -> list[Entry]:
        with redis_errors():
            return list(self._redis.xrange(self._config.stream, count=count))

    def add(self, fields: dict[str, str]) -> str:
        """Append raw fields (as an operator or a foreign writer would); the new entry id."""
        with redis_errors():
            return str(self._redis.xadd(self._config.stream, fields))

    def delete(self, *entry_ids: str) -> None:
        """Delete entries from the stream (as a trim or an operator would)."""
        with redis_errors():
            self._redis.xdel(self._config.stream, *entry_ids)

    def delete_stream(self) -> None:
        """Delete the stream with its group, as DEL or FLUSHALL would."""
        with redis_errors():
            self._redis.delete(self._config.stream)

    def status(self, *, latest: int = 5) -> StreamStatus:
        return stream_status(self._redis, self._config, self._letters, latest=latest)

    def ping(self) -> None:
        with redis_errors():
            self._redis.ping()

    def close(self) -> None:
        self._redis.close()


def _publication(event: OutboxEvent, reply: Any) -> Publication:
    status = int(reply[0])
    if status == PUBLISHED:
        return Publication(event.id, duplicate=True)
    if status == HELD:
        return Publication(event.id, held=True)
    if status == REFUSED:
        return Publication(event.id, error=_text(reply[1])[:200])
    return Publication(event.id, entry_id=_text(reply[1]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
