"""Cursor pagination of the gateway list: by creation time, then id, so no row repeats or is
skipped while gateways are added between pages.

The cursor is opaque to clients: the last row's (created_at, id), base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from outbox.domain.clock import as_utc
from outbox.domain.model import Gateway, Phase, State
from outbox.store.port import GATEWAYS, Store
from outbox_api.problems import FieldProblem, invalid

ORDER = [("created_at", 1), ("_id", 1)]


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


def query(
    *, state: State | None, phase: Phase | None, include_deleted: bool, after: str | None
) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    if state is not None:
        conditions.append({"state": str(state)})
    if phase is not None:
        conditions.append({"phase": str(phase)})
    elif not include_deleted:
        conditions.append({"phase": {"$ne": str(Phase.DELETED)}})
    if after is not None:
        created_at, gateway_id = decode(after)
        conditions.append(
            {
                "$or": [
                    {"created_at": {"$gt": created_at}},
                    {"created_at": created_at, "_id": {"$gt": gateway_id}},
                ]
            }
        )
    return {"$and": conditions} if conditions else {}


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
    filter = query(state=state, phase=phase, include_deleted=include_deleted, after=after)
    documents = store.collection(GATEWAYS).find(filter, sort=ORDER, limit=limit + 1)
    gateways = [Gateway.from_document(document) for document in documents[:limit]]
    more = len(documents) > limit
    return gateways, encode(gateways[-1]) if more and gateways else None
