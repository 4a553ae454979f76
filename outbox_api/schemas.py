"""The API's request and response bodies, and how gateways and tokens are shown in them.

Request bodies validate with the model's own types (`GatewaySpec`, `GatewayName`), so the API
refuses exactly what the writer refuses, naming each field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from outbox.model import (
    Environment,
    EnvironmentName,
    EnvironmentState,
    Gateway,
    GatewayName,
    GatewaySpec,
    Host,
    Image,
    LastError,
    Phase,
    Retry,
    State,
)
from outbox.timeline import PhaseSpan
from outbox.tokens import Role, Token

_STRICT = ConfigDict(extra="forbid")


class CreateGateway(BaseModel):
    model_config = _STRICT

    name: GatewayName = Field(max_length=40)
    spec: GatewaySpec
    stopped: bool = Field(False, description="create it Stopped instead of starting it")


class UpdateGateway(BaseModel):
    """The spec fields to change; fields left out stay as they are, `host: null` removes it."""

    model_config = _STRICT

    image: Image | None = None
    replicas: int | None = Field(None, ge=1, le=100)
    port: int | None = Field(None, ge=1, le=65535)
    host: Host | None = None
    environments: list[EnvironmentName] | None = None

    def changes(self) -> dict[str, Any]:
        """What was sent; an explicit null is kept only for `host` (the writer refuses others)."""
        sent = self.model_dump(include=self.model_fields_set)
        if "environments" in sent and sent["environments"] is not None:
            sent["environments"] = tuple(sent["environments"])
        return sent


class GatewayView(BaseModel):
    id: str
    name: str
    state: State
    phase: Phase
    version: int
    spec: GatewaySpec
    spec_version: int
    applied_spec_version: int
    ever_started: bool
    last_error: LastError | None
    retry: Retry | None
    phase_changed_at: datetime
    start_requested_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayView:
        return cls(
            id=gateway.id,
            name=gateway.name,
            state=gateway.state,
            phase=gateway.phase,
            version=gateway.version,
            spec=gateway.spec,
            spec_version=gateway.spec_version,
            applied_spec_version=gateway.applied_spec_version,
            ever_started=gateway.ever_started,
            last_error=gateway.last_error,
            retry=gateway.retry,
            phase_changed_at=gateway.phase_changed_at,
            start_requested_at=gateway.start_requested_at,
            created_at=gateway.created_at,
            updated_at=gateway.updated_at,
        )


class GatewayPage(BaseModel):
    items: list[GatewayView]
    next: str | None = Field(description="cursor of the next page; null on the last one")


class EnvironmentView(BaseModel):
    name: str
    state: EnvironmentState

    @classmethod
    def of(cls, environment: Environment) -> EnvironmentView:
        return cls(name=environment.name, state=environment.state)


class EventView(BaseModel):
    id: str
    type: str
    version: int
    occurred_at: datetime
    published_at: datetime | None
    payload: dict[str, Any]


class SpanView(BaseModel):
    phase: Phase
    entered_at: datetime
    left_at: datetime | None
    seconds: float

    @classmethod
    def of(cls, span: PhaseSpan) -> SpanView:
        return cls(
            phase=span.phase, entered_at=span.entered_at, left_at=span.left_at, seconds=span.seconds
        )


class Timeline(BaseModel):
    gateway: GatewayView
    phases: list[SpanView]
    events: list[EventView]


class WaitResult(BaseModel):
    met: bool = Field(description="the gateway settled as asked")
    verdict: Literal["met", "elsewhere", "pending"] = Field(
        description="pending: the timeout passed first; elsewhere: settled, but not as asked"
    )
    gateway: GatewayView | None = Field(description="as last read; null once it no longer exists")


class CreateToken(BaseModel):
    model_config = _STRICT

    name: GatewayName = Field(max_length=40)
    role: Role
    expires: str | None = Field(
        None, max_length=10, description="lifetime such as 90d, 12h or 2w; none: no expiry"
    )


class TokenView(BaseModel):
    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: Token) -> TokenView:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class IssuedToken(TokenView):
    token: str = Field(description="the bearer token; shown this once, never stored")
