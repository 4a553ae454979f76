"""The Redis adapter: publishes a batch of events to the stream in one round trip, idempotently.

One Lua script takes the whole batch and, atomically in Redis: refuses a relay whose lease token
is older than the newest seen (fencing); skips each event id already published within the dedupe
window; XADDs the others in order (trimming the stream approximately) and records each id with
its expiry. An event Redis refuses is reported with its error, and the later events of its
gateway in the batch are held back, so nothing overtakes it. A crash between the XADD and the
marking in MongoDB therefore republishes nothing.

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

from outbox.events import STREAM_FIELDS, OutboxEvent
from relay.classify import Disposition, classify
from relay.errors import Fenced, PublishUnavailable

# KEYS: stream, fence key, then one dedupe key per event.
# ARGV: token, dedupe seconds, maxlen (0: no trim), largest entry in bytes, the 7 field names,
# then per event the 7 values (the 4th is the gateway). Reply, per event: {0} already published,
# {1, entry id} added, {2} held back, {3, error} refused.
PUBLISH_SCRIPT = """
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < fence then
  return redis.error_reply('FENCED lease token ' .. ARGV[1] .. ' is older than ' .. fence)
end
if token > fence then
  redis.call('SET', KEYS[2], ARGV[1])
end
local trim = tonumber(ARGV[3]) > 0
local largest = tonumber(ARGV[4])
local names = {ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]}
local failed = {}
local replies = {}
local entry = {}
for i = 1, #KEYS - 2 do
  local first = 12 + (i - 1) * 7
  local size = 0
  for f = 1, 7 do
    entry[2 * f - 1] = names[f]
    entry[2 * f] = ARGV[first + f - 1]
    size = size + #entry[2 * f]
  end
  local gateway = entry[8]
  local key = KEYS[i + 2]
  if failed[gateway] then
    replies[i] = {2}
  elseif size > largest then
    failed[gateway] = true
    replies[i] = {3, 'TOOLARGE entry of ' .. size .. ' bytes, more than ' .. largest}
  elseif not redis.call('SET', key, '1', 'NX', 'EX', ARGV[2]) then
    replies[i] = {0}
  else
    local id
    if trim then
      id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
    else
      id = redis.pcall('XADD', KEYS[1], '*', unpack(entry))
    end
    if type(id) == 'table' and id.err then
      redis.call('DEL', key)  -- not published after all: a retry must try again
      failed[gateway] = true
      replies[i] = {3, id.err}
    else
      replies[i] = {1, id}
    end
  end
end
return replies
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
        self,
        client: redis.Redis[Any],
        *,
        stream: str,
        dedupe_window: int,
        maxlen: int,
        max_entry_bytes: int = 1 << 20,
    ) -> None:
        self._client = client
        self._stream = stream
        self._window = str(dedupe_window)
        self._maxlen = str(maxlen)
        self._largest = str(max_entry_bytes)
        self._fence_key = f"{stream}:fence"
        self._sha: str | None = None

    def dedupe_key(self, event_id: str) -> str:
        return f"{self._stream}:dedupe:{event_id}"

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Outcome]:
        if not events:
            return []
        replies = self._send(events, token)
        if replies and isinstance(replies[0], ResponseError):
            # Redis restarted without its script cache: load it and send again.
            self._sha = None
            replies = self._send(events, token)
        return [self._outcome(event, reply) for event, reply in zip(events, replies, strict=True)]

    def ping(self) -> None:
        try:
            self._client.ping()
        except RedisError as error:
            raise PublishUnavailable(f"Redis is unreachable: {_first_line(error)}") from error

    def _send(self, events: Sequence[OutboxEvent], token: int) -> list[Any]:
        keys = [self._stream, self._fence_key, *(self.dedupe_key(event.id) for event in events)]
        args: list[str | int] = [token, self._window, self._maxlen, self._largest, *STREAM_FIELDS]
        for event in events:
            fields = event.stream_fields()
            args += [fields[name] for name in STREAM_FIELDS]
        try:
            if self._sha is None:
                self._sha = _text(self._client.execute_command("SCRIPT", "LOAD", PUBLISH_SCRIPT))
            reply = self._client.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
            return list(reply)
        except ResponseError as error:
            disposition = classify(_reply_text(error))
            if disposition is Disposition.FENCED:
                raise Fenced(f"Redis refused the relay: {error}") from error
            if disposition is Disposition.NO_SCRIPT:
                return [error]
            raise PublishUnavailable(f"Redis refused the batch: {_first_line(error)}") from error
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise PublishUnavailable(f"Redis is unreachable: {_first_line(error)}") from error
        except RedisError as error:
            raise PublishUnavailable(f"Redis failed: {_first_line(error)}") from error

    def _outcome(self, event: OutboxEvent, reply: Any) -> Outcome:
        status = int(reply[0])
        if status == 0:
            return Outcome(event.id, duplicate=True)
        if status == 2:
            return Outcome(event.id, held=True)
        if status == 3:
            return Outcome(event.id, error=_text(reply[1])[:200])
        return Outcome(event.id, entry_id=_text(reply[1]))


def _reply_text(error: ResponseError) -> str:
    """redis-py strips the error code of the replies it knows; put it back for `classify`."""
    code = getattr(error, "status_code", None)
    return f"{code} {error}" if code else str(error)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    return str(error).split("\n", 1)[0][:200]
