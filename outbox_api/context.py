"""What every route shares: the store, the clock, authentication, writes and waits.

Built once per app by `create_app`; the routes receive it, never a module global.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from outbox.domain.clock import Clock
from outbox.store.port import Store
from outbox_api.auth import Authenticator, Caller
from outbox_api.long_poll import Waits
from outbox_api.tokens import Role, Tokens
from outbox_api.writes import Writes

_BEARER = Depends(HTTPBearer(auto_error=False, description="a token from `outbox token create`"))


@dataclass(frozen=True)
class Context:
    store: Store
    clock: Clock
    tokens: Tokens
    authenticator: Authenticator
    writes: Writes
    waits: Waits

    def caller(self, needed: Role) -> Callable[..., Awaitable[Caller]]:
        """A dependency: the request's caller, holding at least the `needed` role."""

        # Async: FastAPI runs a sync dependency in the thread pool, one more hop per request.
        async def dependency(
            credentials: HTTPAuthorizationCredentials | None = _BEARER,
        ) -> Caller:
            header = None if credentials is None else f"Bearer {credentials.credentials}"
            return await self.authenticator.authenticate_on_loop(header, needed)

        return dependency
