"""Who is calling: the bearer token, checked against the stored digest, and its role.

Each replica keeps what it looked up for `ttl` seconds (at most 5), so a token revoked or expired
on any replica is refused by every replica within that time. `last_used_at` is written at most
once a minute per token, not on every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from outbox.domain.actors import token_actor
from outbox.domain.clock import Clock
from outbox_api.problems import ApiProblem
from outbox_api.tokens import Role, Token, Tokens, split_bearer

TOUCH_EVERY = timedelta(minutes=1)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="outbox"'}


@dataclass(frozen=True)
class Caller:
    """The authenticated token behind a request."""

    token: Token

    @property
    def actor(self) -> str:
        return token_actor(self.token.name)


class Authenticator:
    def __init__(
        self, tokens: Tokens, *, ttl: float, clock: Clock, monotonic: Callable[[], float]
    ) -> None:
        self._tokens = tokens
        self._ttl = ttl
        self._clock = clock
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Token | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, needed: Role) -> Caller:
        """The caller, or 401 (no or bad token) / 403 (role too low)."""
        token_id, secret = _parts(authorization)
        fresh, token = self._cached(token_id)
        caller = self._judge(token if fresh else self._lookup(token_id), secret, needed)
        if self._touch_due(caller.token):
            self._touch(caller.token)
        return caller

    async def authenticate_on_loop(self, authorization: str | None, needed: Role) -> Caller:
        """As `authenticate`, from the event loop: the store is read in the thread pool, and
        only when the cache has no fresh answer (the common request needs no thread at all)."""
        token_id, secret = _parts(authorization)
        fresh, token = self._cached(token_id)
        if not fresh:
            token = await run_in_threadpool(self._lookup, token_id)
        caller = self._judge(token, secret, needed)
        if self._touch_due(caller.token):
            await run_in_threadpool(self._touch, caller.token)
        return caller

    def identify(self, authorization: str | None) -> Caller:
        """The caller whatever its role, or 401."""
        return self.authenticate(authorization, Role.READER)

    def _judge(self, token: Token | None, secret: str, needed: Role) -> Caller:
        if token is None or not token.matches(secret) or not token.usable(self._clock()):
            raise _unauthenticated("the token is unknown, revoked or expired")
        if not token.role.allows(needed):
            detail = f"token {token.name!r} has role {token.role}; this needs {needed}"
            raise ApiProblem(403, "forbidden", "Forbidden", detail)
        return Caller(token)

    def _cached(self, token_id: str) -> tuple[bool, Token | None]:
        """(whether the cache's answer is fresh, that answer)."""
        with self._lock:
            cached = self._cache.get(token_id)
        if cached is None or self._monotonic() - cached[0] >= self._ttl:
            return False, None
        return True, cached[1]

    def _lookup(self, token_id: str) -> Token | None:
        now = self._monotonic()
        token = self._tokens.get(token_id)
        with self._lock:
            self._cache[token_id] = (now, token)
        return token

    def _touch_due(self, token: Token) -> bool:
        last = token.last_used_at
        return last is None or self._clock() - last >= TOUCH_EVERY

    def _touch(self, token: Token) -> None:
        now = self._clock()
        self._tokens.touch(token.id, now)
        with self._lock:
            # Remember the touch until the next look-up, so that the next request skips it.
            cached = self._cache.get(token.id)
            if cached is not None and cached[1] is not None:
                self._cache[token.id] = (
                    cached[0],
                    cached[1].model_copy(update={"last_used_at": now}),
                )


def _parts(authorization: str | None) -> tuple[str, str]:
    """(token id, secret) of an `Authorization: Bearer` header, or 401."""
    scheme, _, text = (authorization or "").partition(" ")
    parts = split_bearer(text.strip()) if scheme.lower() == "bearer" else None
    if parts is None:
        raise _unauthenticated("send `Authorization: Bearer <token>`")
    return parts


def _unauthenticated(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthenticated", "Unauthenticated", detail, headers=dict(_CHALLENGE))
