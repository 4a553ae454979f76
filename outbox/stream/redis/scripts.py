"""Lua scripts on Redis, sent by their digest and loaded again when the server lost them.

A restarted or failed-over Redis (or SCRIPT FLUSH) answers NOSCRIPT: the script is loaded
again and the same call sent once more. On a cluster the script is loaded on every master and
the call goes to the master of its keys' slot.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from outbox.stream.redis.errors import reply_of
from outbox.stream.replies import Reply


class Scripts:
    def __init__(self, client: Any) -> None:
        self._redis = client
        self._digests: dict[str, str] = {}

    def run(self, script: str, keys: list[str], args: list[str | int]) -> Any:
        try:
            return self._evalsha(script, keys, args)
        except ResponseError as error:
            if reply_of(error) is not Reply.RELOAD_SCRIPT:
                raise
        self._digests.pop(script, None)
        return self._evalsha(script, keys, args)

    def _evalsha(self, script: str, keys: list[str], args: list[str | int]) -> Any:
        digest = self._digests.get(script)
        if digest is None:
            digest = self._digests[script] = _text(self._redis.script_load(script))
        return self._redis.evalsha(digest, len(keys), *keys, *args)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
