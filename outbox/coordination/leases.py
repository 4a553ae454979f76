"""Lease records: one document per lease (owner, fencing token, expiry), read and judged here.

The relay takes and renews its lease by these records; `outbox status` shows who holds each.
Pure: parsing a document and judging it at a given time need no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.domain.clock import as_utc


@dataclass(frozen=True)
class LeaseRecord:
    name: str
    owner: str | None  # None once released
    token: int  # fencing token of the latest holder
    expires_at: datetime | None

    def held_at(self, now: datetime) -> bool:
        """Whether someone holds the lease at `now`: owned and not yet expired."""
        return self.owner is not None and self.expires_at is not None and self.expires_at > now

    def holder_at(self, now: datetime) -> str | None:
        """Who holds the lease at `now`, if anyone."""
        return self.owner if self.held_at(now) else None


def parse_lease(document: Mapping[str, Any]) -> LeaseRecord:
    """The record in a lease document; a field that is missing or of the wrong type reads as
    no owner, token 0 or no expiry, so a damaged lease counts as free, never as held."""
    owner, token, expires_at = (document.get(key) for key in ("owner", "token", "expires_at"))
    return LeaseRecord(
        name=str(document["_id"]),
        owner=owner if isinstance(owner, str) else None,
        token=int(token) if isinstance(token, int | float) and not isinstance(token, bool) else 0,
        expires_at=as_utc(expires_at) if isinstance(expires_at, datetime) else None,
    )
