"""Outbox events: what happened to a gateway, recorded in the same transaction as the change.

The stream contract (field names and event types) is defined here, once, for the writer, the
relay and the provisioner.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from outbox.domain.model import UtcDatetime

AGGREGATE_TYPE = "gateway"


class EventType(StrEnum):
    # From the writer: intent.
    CREATED = "GatewayCreated"
    START_REQUESTED = "GatewayStartRequested"
    STOP_REQUESTED = "GatewayStopRequested"
    RESTART_REQUESTED = "GatewayRestartRequested"
    SPEC_UPDATED = "GatewaySpecUpdated"
    DELETE_REQUESTED = "GatewayDeleteRequested"
    # From the provisioner: what actually happened.
    STARTING = "GatewayStarting"
    STARTED = "GatewayStarted"
    START_TIMED_OUT = "GatewayStartTimedOut"
    STOPPING = "GatewayStopping"
    STOPPED = "GatewayStopped"
    DELETING = "GatewayDeleting"
    DELETED = "GatewayDeleted"
    DRIFT_REPAIRED = "GatewayDriftRepaired"
    FAILED = "GatewayFailed"


STREAM_FIELDS = (
    "event_id",
    "type",
    "aggregate_type",
    "aggregate_id",
    "version",
    "occurred_at",
    "payload",
)


# Optional fields of newer entries (older ones lack them; consumers accept both): who made the
# change (`outbox.domain.actors`), and the W3C trace context of the change
# (`outbox.runtime.tracing`).
ACTOR = "actor"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
OPTIONAL_FIELDS = (ACTOR, TRACEPARENT, TRACESTATE)

# Optional field of an entry added again out of order (`outbox relay unpark --out-of-order`):
# consumers handle it as any other entry; it is not above the gateway's high-water mark.
REDELIVERED = "redelivered"


def new_event_id() -> str:
    return "ev_" + uuid.uuid4().hex


class OutboxEvent(BaseModel):
    """One row of the outbox collection."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id", default_factory=new_event_id)
    type: EventType
    aggregate_type: str = AGGREGATE_TYPE
    aggregate_id: str
    version: int
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: UtcDatetime
    published_at: UtcDatetime | None = None
    attempts: int = 0
    last_error: str | None = None
    parked: bool = False
    # Absent from documents written before they existed.
    actor: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    # The partition of its gateway, copied from the gateway document; None on documents
    # written before partitions existed (the relay parks those that stay without one).
    partition: int | None = None

    @classmethod
    def for_gateway(
        cls,
        gateway_id: str,
        event_type: EventType,
        *,
        version: int,
        at: datetime,
        payload: Mapping[str, Any] | None = None,
        actor: str | None = None,
        trace: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> OutboxEvent:
        """A new, unpublished event: what happened to the gateway at `version`, at time `at`,
        done by `actor`, within the trace whose W3C fields (`traceparent`, `tracestate`) are
        in `trace`.

        The one way events are made; the id and the publishing fields start from their defaults.
        """
        trace = trace or {}
        return cls(
            type=event_type,
            aggregate_id=gateway_id,
            version=version,
            occurred_at=at,
            payload=dict(payload or {}),
            actor=actor,
            traceparent=trace.get(TRACEPARENT),
            tracestate=trace.get(TRACESTATE),
            partition=partition,
        )

    def to_document(self) -> dict[str, Any]:
        document = self.model_dump(by_alias=True, mode="python")
        if document["partition"] is None:
            del document["partition"]
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OutboxEvent:
        return cls.model_validate(document)

    def stream_fields(self) -> dict[str, str]:
        """The flat string fields of the stream contract: the required ones in order, then the
        optional ones this event has."""
        fields = {
            "event_id": self.id,
            "type": str(self.type),
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "version": str(self.version),
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "payload": json.dumps(self.payload, sort_keys=True, separators=(",", ":")),
        }
        for name, value in zip(OPTIONAL_FIELDS, self.optional_values(), strict=True):
            if value:
                fields[name] = value
        return fields

    def optional_values(self) -> tuple[str, str, str]:
        """The values of OPTIONAL_FIELDS, in order; an empty string where the event has none."""
        return self.actor or "", self.traceparent or "", self.tracestate or ""
