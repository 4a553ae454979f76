"""The API's request and response bodies, and how gateways and tokens are shown in them.

Request bodies validate with the model's own types (`GatewaySpec`, `GatewayName`), so the API
refuses exactly what the writer refuses, naming each field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from outbox.domain.model import (
    EnvironmentName,
    EnvironmentState,
    GatewayName,
    GatewaySpec,
    Host,
    Image,
    LastError,
    Phase,
    Retry,
    State,
)
from outbox_api.tokens import Role

_STRICT = ConfigDict(extra="forbid")


class _Shown(BaseModel):
    """A response body read off an object of the core: the fields it declares, by name."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, source: object) -> Self:
        return cls.model_validate(source)


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


class GatewayView(_Shown):
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
    created_by: str | None = Field(description="the actor that created it; null before actors")
    updated_by: str | None = Field(
        description="the actor of the last change of intent (a provisioner step is not one)"
    )


class GatewayPage(BaseModel):
    items: list[GatewayView]
    next: str | None = Field(description="cursor of the next page; null on the last one")


class EnvironmentView(_Shown):
    name: str
    state: EnvironmentState


class EventView(_Shown):
    id: str
    type: str
    version: int
    occurred_at: datetime
    published_at: datetime | None
    payload: dict[str, Any]
    actor: str | None = Field(description="who made the change; null on events before actors")


class SpanView(_Shown):
    phase: Phase
    entered_at: datetime
    left_at: datetime | None
    seconds: float


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


class TokenView(_Shown):
    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedToken(TokenView):
    token: str = Field(description="the bearer token; shown this once, never stored")
