"""A cap on request bodies, enforced before any route reads them: 413 beyond it.

Checks `Content-Length` first, then counts the bytes of a body sent without one (chunked). The
count raises an HTTP 413 error where the body is read, so the route's error handling answers it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outbox_api.problems import ApiProblem


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self._max:
                raise HTTPException(413, self._detail())
            return message

        await self._app(scope, counted, send)

    def _detail(self) -> str:
        return f"request bodies are limited to {self._max} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = ApiProblem(413, "body-too-large", "Request body too large", self._detail())
        await problem.response()(scope, receive, send)
