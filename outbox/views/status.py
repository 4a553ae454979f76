"""The MongoDB half of `outbox status`: outbox backlog, parked events, relay leases, gateways.

Questions to the store's repositories and pure functions over what they return; the time is
passed in, so a report is a function of the data and `now`. The Redis half lives with the
provisioner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.coordination.leases import LeaseRecord, parse_lease
from outbox.domain.clock import as_utc
from outbox.domain.deadlines import Timeouts, phase_deadline
from outbox.domain.event_documents import Read, Unreadable, read_event
from outbox.domain.model import Gateway, LastError, Phase, Retry, State
from outbox.store.gateway_queries import GatewayQueries
from outbox.store.leases import Leases
from outbox.store.port import Store
from outbox.store.repository import Events

_TIMED_PHASES = (Phase.STARTING, Phase.STOPPING, Phase.DELETING)


@dataclass(frozen=True)
class ParkedEvent:
    """A parked event, or a parked document that is not an event (`unreadable`): then only
    what could be read of it is given, and `last_error` says why it cannot be read."""

    event_id: str  # an ObjectId `_id` by its 24 hex digits
    gateway_id: str | None
    type: str | None
    version: int | None
    attempts: int
    last_error: str | None
    occurred_at: datetime | None
    holds_up: int  # later unpublished events of the same gateway waiting behind this one
    unreadable: bool = False


@dataclass(frozen=True)
class LeaseStatus:
    name: str
    owner: str | None
    token: int
    expires_at: datetime | None
    held: bool

    @classmethod
    def of(cls, record: LeaseRecord, now: datetime) -> LeaseStatus:
        return cls(
            name=record.name,
            owner=record.owner,
            token=record.token,
            expires_at=record.expires_at,
            held=record.held_at(now),
        )


@dataclass(frozen=True)
class OutboxStatus:
    backlog: int  # unpublished and not parked
    oldest_unpublished_at: datetime | None
    parked_total: int
    parked: list[ParkedEvent]
    leases: list[LeaseStatus]


@dataclass(frozen=True)
class GatewayAttention:
    """A gateway an operator should look at: past a deadline, retrying, or with an error."""

    id: str
    name: str
    state: State
    phase: Phase
    phase_changed_at: datetime
    overdue_seconds: float | None  # past its phase's deadline by this much, else None
    retry: Retry | None
    last_error: LastError | None


@dataclass(frozen=True)
class GatewaysStatus:
    per_phase: dict[str, int]
    attention: list[GatewayAttention]

    @property
    def past_deadline(self) -> int:
        return sum(1 for item in self.attention if item.overdue_seconds is not None)

    @property
    def retrying(self) -> int:
        return sum(1 for item in self.attention if item.retry is not None)

    @property
    def with_error(self) -> int:
        return sum(1 for item in self.attention if item.last_error is not None)


# -- queries ------------------------------------------------------------------------------------


def outbox_status(store: Store, *, now: datetime, limit: int = 20) -> OutboxStatus:
    events = Events(store)
    parked = [
        _parked(events, document, read_event(document))
        for document in events.parked_documents(limit=limit)
    ]
    leases = [LeaseStatus.of(parse_lease(d), now) for d in Leases(store).all()]
    return OutboxStatus(
        backlog=events.backlog(),
        oldest_unpublished_at=events.oldest_unpublished_at(),
        parked_total=events.parked_count(),
        parked=parked,
        leases=sorted(leases, key=lambda lease: lease.name),
    )


def gateways_status(
    store: Store, *, now: datetime, timeouts: Timeouts, limit: int = 50
) -> GatewaysStatus:
    gateways = GatewayQueries(store)
    per_phase = gateways.count_per_phase()
    # The store finds the few candidates; whether one is past its deadline is decided here.
    candidates = gateways.in_phases_or_retrying_or_failed(_TIMED_PHASES)
    attention = [
        item
        for item in (needs_attention(gateway, now=now, timeouts=timeouts) for gateway in candidates)
        if item is not None
    ]
    attention.sort(key=lambda item: (item.overdue_seconds is None, item.phase_changed_at))
    return GatewaysStatus(per_phase=per_phase, attention=attention[:limit])


# -- decisions ----------------------------------------------------------------------------------


def overdue_seconds(gateway: Gateway, *, now: datetime, timeouts: Timeouts) -> float | None:
    """How far past its phase's deadline the gateway is, or None when it is not."""
    deadline = phase_deadline(gateway, timeouts)
    if deadline is None or now <= deadline:
        return None
    return (now - deadline).total_seconds()


def needs_attention(
    gateway: Gateway, *, now: datetime, timeouts: Timeouts
) -> GatewayAttention | None:
    if gateway.phase is Phase.DELETED:
        return None  # its history is over; an error left on it no longer matters
    overdue = overdue_seconds(gateway, now=now, timeouts=timeouts)
    if overdue is None and gateway.retry is None and gateway.last_error is None:
        return None
    return GatewayAttention(
        id=gateway.id,
        name=gateway.name,
        state=gateway.state,
        phase=gateway.phase,
        phase_changed_at=gateway.phase_changed_at,
        overdue_seconds=overdue,
        retry=gateway.retry,
        last_error=gateway.last_error,
    )


def _parked(events: Events, document: dict[str, Any], read: Read) -> ParkedEvent:
    if isinstance(read, Unreadable):
        return ParkedEvent(
            event_id=read.id,
            gateway_id=read.gateway_id,
            type=document.get("type") if isinstance(document.get("type"), str) else None,
            version=read.version,
            attempts=_attempts(document.get("attempts")),
            last_error=read.reason
            if document.get("last_error") is None
            else str(document["last_error"]),
            occurred_at=_as_datetime(document.get("occurred_at")),
            holds_up=events.waiting_behind(read.id, read.gateway_id, read.version),
            unreadable=True,
        )
    return ParkedEvent(
        event_id=read.id,
        gateway_id=read.aggregate_id,
        type=str(read.type),
        version=read.version,
        attempts=read.attempts,
        last_error=read.last_error,
        occurred_at=read.occurred_at,
        holds_up=events.waiting_behind(read.id, read.aggregate_id, read.version),
    )


def _attempts(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _as_datetime(value: Any) -> datetime | None:
    """A stored date as an aware UTC instant; anything else (a document that is not an event
    may hold anything) as no date."""
    return as_utc(value) if isinstance(value, datetime) else None
