"""The Redis adapter: publishes a batch of events to the stream in one round trip, idempotently.

Each event goes through one Lua script that, atomically in Redis, refuses a relay whose lease
token is older than the newest seen (fencing), skips an event id already published within the
dedupe window, holds an event back when the previous event of its gateway in the same batch did
not make it (rejected), and otherwise XADDs the entry (trimming the stream approximately) and
records the id. A crash between the XADD and the marking in MongoDB therefore republishes
nothing, and one rejected event cannot be overtaken by its gateway's next one.

This is the only module of the relay that sees Redis exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from outbox.events import OutboxEvent
from relay.classify import Disposition, classify
from relay.errors import Fenced, PublishUnavailable

# KEYS: stream, dedupe key, fence key, dedupe key of the gateway's previous event in the batch.
# ARGV: token, dedupe seconds, maxlen (0: no trim), "1" if KEYS[4] must exist, then the fields.
PUBLISH_SCRIPT = """
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[3]) or '0')
if token < fence then
  return redis.error_reply('FENCED lease token ' .. ARGV[1] .. ' is older than ' .. fence)
end
if token > fence then
  redis.call('SET', KEYS[3], ARGV[1])
end
local existing = redis.call('GET', KEYS[2])
if existing then
  return {0, existing}
end
if ARGV[4] == '1' and redis.call('TYPE', KEYS[4]).ok ~= 'string' then
  return {2, ''}
end
local id
if tonumber(ARGV[3]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return {1, id}
"""


@dataclass(frozen=True)
class Outcome:
    """What happened to one event: in the stream (new or already there), held back because its
    gateway's previous event did not make it, or rejected."""

    event_id: str
    entry_id: str | None = None
    duplicate: bool = False
    held: bool = False
    error: str | None = None

    @property
    def published(self) -> bool:
        return self.error is None and not self.held


class Publisher(Protocol):
    """The relay's port to the stream. `publish` returns one outcome per event, in order."""

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Outcome]: ...

    def ping(self) -> None: ...


class RedisPublisher:
    def __init__(
        self, client: redis.Redis[Any], *, stream: str, dedupe_window: int, maxlen: int
    ) -> None:
        self._client = client
        self._stream = stream
        self._window = str(dedupe_window)
        self._maxlen = str(maxlen)
        self._fence_key = f"{stream}:fence"
        self._sha: str | None = None

    def dedupe_key(self, event_id: str) -> str:
        return f"{self._stream}:dedupe:{event_id}"

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Outcome]:
        if not events:
            return []
        replies = self._send(events, token)
        if any(_disposition(reply) is Disposition.NO_SCRIPT for reply in replies):
            # Redis restarted without its script cache. Resending is safe: the script skips
            # whatever the first attempt did publish.
            self._sha = None
            replies = self._send(events, token)
        return [self._outcome(event, reply) for event, reply in zip(events, replies, strict=True)]

    def ping(self) -> None:
        try:
            self._client.ping()
        except RedisError as error:
            raise PublishUnavailable(f"Redis is unreachable: {_first_line(error)}") from error

    def _send(self, events: Sequence[OutboxEvent], token: int) -> list[Any]:
        try:
            if self._sha is None:
                self._sha = _text(self._client.execute_command("SCRIPT", "LOAD", PUBLISH_SCRIPT))
            pipe = self._client.pipeline(transaction=False)
            previous: dict[str, str] = {}  # gateway → dedupe key of its last event so far
            for event in events:
                after = previous.get(event.aggregate_id)
                keys = [self._stream, self.dedupe_key(event.id), self._fence_key, after or ""]
                args: list[str | int] = [token, self._window, self._maxlen, "1" if after else "0"]
                for name, value in event.stream_fields().items():
                    args += [name, value]
                pipe.evalsha(self._sha, 4, *keys, *args)
                previous[event.aggregate_id] = keys[1]
            return list(pipe.execute(raise_on_error=False))
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise PublishUnavailable(f"Redis is unreachable: {_first_line(error)}") from error
        except RedisError as error:  # script load refused (LOADING, OOM, …): Redis as a whole
            raise PublishUnavailable(f"Redis failed: {_first_line(error)}") from error

    def _outcome(self, event: OutboxEvent, reply: Any) -> Outcome:
        if isinstance(reply, ResponseError):
            disposition = classify(_reply_text(reply))
            if disposition is Disposition.FENCED:
                raise Fenced(f"Redis refused the relay: {reply}")
            if disposition is not Disposition.REJECTED:
                raise PublishUnavailable(f"Redis cannot take writes: {_reply_text(reply)}")
            return Outcome(event.id, error=_first_line(reply))
        if isinstance(reply, Exception):
            raise PublishUnavailable(f"Redis failed: {_first_line(reply)}")
        status, entry_id = reply
        if int(status) == 2:
            return Outcome(event.id, held=True)
        return Outcome(event.id, entry_id=_text(entry_id), duplicate=int(status) == 0)


def _disposition(reply: Any) -> Disposition | None:
    return classify(_reply_text(reply)) if isinstance(reply, ResponseError) else None


def _reply_text(error: ResponseError) -> str:
    """redis-py strips the error code of the replies it knows; put it back for `classify`."""
    code = getattr(error, "status_code", None)
    return f"{code} {error}" if code else str(error)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    return str(error).split("\n", 1)[0][:200]
