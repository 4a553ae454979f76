"""`/v1/tokens`: admins create, list and revoke tokens (as `outbox token` does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from outbox_api.auth import Caller
from outbox_api.context import Context
from outbox_api.problems import responses
from outbox_api.schemas import CreateToken, IssuedToken, TokenView
from outbox_api.tokens import Role, parse_duration

_ERRORS = responses(401, 403, 404, 409, 413, 422, 503)


def token_routes(ctx: Context) -> APIRouter:
    router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
    admin = Depends(ctx.caller(Role.ADMIN))

    @router.post("", status_code=201, response_model=IssuedToken, responses=_ERRORS)
    def create(body: CreateToken, caller: Caller = admin) -> IssuedToken:
        """The bearer text is in this answer only: it is not stored."""
        lifetime = None if body.expires is None else parse_duration(body.expires)
        issued = ctx.tokens.create(body.name, body.role, expires_in=lifetime)
        return IssuedToken(**TokenView.of(issued.token).model_dump(), token=issued.bearer)

    @router.get("", response_model=list[TokenView], responses=_ERRORS)
    def list_tokens(caller: Caller = admin) -> list[TokenView]:
        return [TokenView.of(token) for token in ctx.tokens.list()]

    @router.delete("/{name}", response_model=TokenView, responses=_ERRORS)
    def revoke(
        name: Annotated[str, Path(min_length=1, max_length=64)],
        caller: Caller = admin,
    ) -> TokenView:
        """Every replica refuses the token within OUTBOX_API_TOKEN_CACHE seconds (at most 5)."""
        return TokenView.of(ctx.tokens.revoke(name))

    return router
