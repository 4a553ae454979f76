"""Cursor pagination of the gateway list: by creation time, then id, so no row repeats or is
skipped while gateways are added between pages.

The cursor is opaque to clients: the last row's (created_at, id), base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from outbox.domain.clock import as_utc
from outbox.domain.model import Gateway, Phase, State
from outbox.store.gateway_queries import GatewayQueries
from outbox.store.port import Store
from outbox_api.problems import FieldProblem, invalid


def encode(gateway: Gateway) -> str:
    raw = json.dumps([gateway.created_at.isoformat(), gateway.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, gateway_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return as_utc(datetime.fromisoformat(created_at)), str(gateway_id)
    except (ValueError, TypeError, binascii.Error) as error:
        detail = f"next: not a cursor this API gave out ({type(error).__name__})"
        raise invalid(detail, [FieldProblem(field="next", message="not a valid cursor")]) from None


def page(
    store: Store,
    *,
    limit: int,
    state: State | None = None,
    phase: Phase | None = None,
    include_deleted: bool = False,
    after: str | None = None,
) -> tuple[list[Gateway], str | None]:
    """Up to `limit` gateways and the cursor of the next page (None when this is the last)."""
    key = None if after is None else decode(after)
    found = GatewayQueries(store).page(
        limit=limit, after=key, state=state, phase=phase, include_deleted=include_deleted
    )
    last = found.gateways[-1] if found.more and found.gateways else None
    return found.gateways, None if last is None else encode(last)
