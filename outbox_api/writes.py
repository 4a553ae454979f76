"""Every gateway write of the API: one `Writer` per request, and the idempotency key.

`Writes.perform` runs one write. Without an `Idempotency-Key` it calls the writer; with one it
claims the key first, stores the response inside the write's own transaction (the writer's
`extra` hook), and answers a repeated request with the stored response instead of writing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response

from outbox.domain.clock import Clock
from outbox.domain.errors import OutboxError
from outbox.domain.model import Gateway
from outbox.store.port import Collections, Store
from outbox.writer import Writer
from outbox_api.auth import Caller
from outbox_api.conditional import etag
from outbox_api.idempotency import (
    Claimed,
    IdempotencyKeys,
    InFlight,
    Mismatch,
    Replay,
    fingerprint,
)
from outbox_api.idempotency import Response as Stored
from outbox_api.problems import ApiProblem, FieldProblem, invalid
from outbox_api.schemas import GatewayView

log = logging.getLogger(__name__)

Write = Callable[[Writer], Gateway]
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as header values go
REPLAYED = "Idempotent-Replayed"


@dataclass(frozen=True)
class Request:
    """What identifies a write for its idempotency key: who, what, and the body as parsed."""

    caller: Caller
    method: str
    path: str
    body: Any
    key: str | None


def gateway_response(gateway: Gateway, status: int, *, location: bool = False) -> Stored:
    headers = {"ETag": etag(gateway.version)}
    if location:
        headers["Location"] = f"/v1/gateways/{gateway.id}"
    return Stored(status, GatewayView.of(gateway).model_dump_json(), headers)


def http(stored: Stored, **extra_headers: str) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        headers={**stored.headers, **extra_headers},
        media_type="application/json",
    )


class Writes:
    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._keys = IdempotencyKeys(store, clock=clock)
        # Shared by every request: it caches the partition count; each request gets a copy.
        self._writer = Writer(store, clock=clock)

    def writer(
        self, caller: Caller, extra: Callable[[Collections, Gateway], None] | None
    ) -> Writer:
        """The one place a request's Writer is built: the caller is known here, and recorded as
        the actor (`token:NAME`) of the change."""
        return self._writer.with_actor(caller.actor, extra=extra)

    def perform(
        self, request: Request, write: Write, *, status: int, location: bool = False
    ) -> Response:
        if request.key is None:
            gateway = write(self.writer(request.caller, None))
            return http(gateway_response(gateway, status, location=location))
        if not _KEY.match(request.key):
            detail = "Idempotency-Key: 1 to 255 visible ASCII characters"
            raise invalid(detail, [FieldProblem(field="Idempotency-Key", message=detail)])
        outcome = self._keys.begin(
            request.caller.token.id,
            request.key,
            fingerprint(request.method, request.path, request.body),
        )
        match outcome:
            case Replay(stored):
                return http(stored, **{REPLAYED: "true"})
            case InFlight():
                raise _in_flight()
            case Mismatch():
                raise _reused()
        assert isinstance(outcome, Claimed)
        return http(self._claimed(request, outcome, write, status, location))

    def _claimed(
        self, request: Request, claimed: Claimed, write: Write, status: int, location: bool
    ) -> Stored:
        answer: list[Stored] = []

        def remember(collections: Collections, gateway: Gateway) -> None:
            answer[:] = [gateway_response(gateway, status, location=location)]
            self._keys.complete(collections, claimed, answer[0])

        try:
            write(self.writer(request.caller, remember))
        except BaseException:
            self._release(claimed)
            raise
        return answer[0]

    def _release(self, claimed: Claimed) -> None:
        try:
            self._keys.release(claimed)
        except OutboxError as error:  # keep the write's own error for the client
            log.warning(
                "idempotency key %s not released (%s); it is taken over after its claim expires",
                claimed.key_id,
                error,
            )


def _reused() -> ApiProblem:
    detail = "this Idempotency-Key was used for a different request in the last 24 hours"
    errors = [FieldProblem(field="Idempotency-Key", message=detail)]
    return ApiProblem(
        422, "idempotency-key-reused", "Idempotency key reused", detail, errors=errors
    )


def _in_flight() -> ApiProblem:
    detail = "a request with this Idempotency-Key is still in progress; retry later"
    return ApiProblem(409, "idempotency-key-in-flight", "Request in flight", detail)
