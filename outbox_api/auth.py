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

from outbox.clock import Clock
from outbox.tokens import Role, Token, Tokens, split_bearer
from outbox_api.problems import ApiProblem

TOUCH_EVERY = timedelta(minutes=1)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="outbox"'}


@dataclass(frozen=True)
class Caller:
    """The authenticated token behind a request."""

    token: Token

    @property
    def actor(self) -> str:
        return f"token:{self.token.name}"


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
        scheme, _, text = (authorization or "").partition(" ")
        parts = split_bearer(text.strip()) if scheme.lower() == "bearer" else None
        if parts is None:
            raise _unauthenticated("send `Authorization: Bearer <token>`")
        token_id, secret = parts
        token = self._lookup(token_id)
        now = self._clock()
        if token is None or not token.matches(secret) or not token.usable(now):
            raise _unauthenticated("the token is unknown, revoked or expired")
        if not token.role.allows(needed):
            detail = f"token {token.name!r} has role {token.role}; this needs {needed}"
            raise ApiProblem(403, "forbidden", "Forbidden", detail)
        self._touch(token)
        return Caller(token)

    def identify(self, authorization: str | None) -> Caller:
        """The caller whatever its role, or 401."""
        return self.authenticate(authorization, Role.READER)

    def _lookup(self, token_id: str) -> Token | None:
        now = self._monotonic()
        with self._lock:
            cached = self._cache.get(token_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        token = self._tokens.get(token_id)
        with self._lock:
            self._cache[token_id] = (now, token)
        return token

    def _touch(self, token: Token) -> None:
        now = self._clock()
        if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
            return
        self._tokens.touch(token.id, now)
        with self._lock:
            # Remember the touch until the next look-up, so that the next request skips it.
            cached = self._cache.get(token.id)
            if cached is not None and cached[1] is not None:
                self._cache[token.id] = (
                    cached[0],
                    cached[1].model_copy(update={"last_used_at": now}),
                )


def _unauthenticated(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthenticated", "Unauthenticated", detail, headers=dict(_CHALLENGE))
