"""`/v1/gateways`: the writer's calls as resources.

Reads need a reader token, writes a writer token. Every write takes `If-Match` (the version it
expects) and `Idempotency-Key`, and answers with the gateway and its `ETag`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from outbox.domain.model import Gateway, Phase, State
from outbox.domain.settling import Target
from outbox.views.timeline import events_of, phase_spans
from outbox.writer import Writer
from outbox_api import pagination
from outbox_api.auth import Caller
from outbox_api.conditional import etag, expected_version, not_modified
from outbox_api.context import Context
from outbox_api.problems import FieldProblem, invalid, responses
from outbox_api.schemas import (
    CreateGateway,
    EnvironmentView,
    EventView,
    GatewayPage,
    GatewayView,
    SpanView,
    Timeline,
    UpdateGateway,
    WaitResult,
)
from outbox_api.tokens import Role
from outbox_api.writes import Request

MAX_WAIT_SECONDS = 60.0
Ref = Annotated[str, Path(min_length=1, max_length=64, description="gateway id or name")]
IfMatch = Annotated[str | None, Header(description="the ETag the write expects")]
IdempotencyKey = Annotated[
    str | None, Header(description="repeat a write safely: same key, same body, one write")
]
_READ_ERRORS = (401, 403, 404, 422, 503)
_READ = responses(*_READ_ERRORS)
_WRITE = responses(401, 403, 404, 409, 412, 413, 422, 503)


def gateway_routes(ctx: Context) -> APIRouter:
    router = APIRouter(prefix="/v1/gateways", tags=["gateways"])
    _list_route(router, ctx)
    _get_route(router, ctx)
    _history_routes(router, ctx)
    _change_routes(router, ctx)
    _action_routes(router, ctx)
    _wait_route(router, ctx)
    return router


def _list_route(router: APIRouter, ctx: Context) -> None:
    reader = Depends(ctx.caller(Role.READER))

    @router.get("", response_model=GatewayPage, responses=_READ)
    def list_gateways(
        state: State | None = None,
        phase: Phase | None = None,
        include_all: Annotated[
            bool, Query(alias="all", description="include Deleted gateways")
        ] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None, Query(alias="next", max_length=200, description="cursor")
        ] = None,
        caller: Caller = reader,
    ) -> GatewayPage:
        gateways, following = pagination.page(
            ctx.store,
            limit=limit,
            state=state,
            phase=phase,
            include_deleted=include_all,
            after=cursor,
        )
        return GatewayPage(items=[GatewayView.of(g) for g in gateways], next=following)


def _get_route(router: APIRouter, ctx: Context) -> None:
    reader = Depends(ctx.caller(Role.READER))

    @router.get("/{ref}", response_model=GatewayView, responses=responses(304, *_READ_ERRORS))
    def get_gateway(
        ref: Ref,
        caller: Caller = reader,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        gateway = Writer(ctx.store).get(ref)
        if not_modified(if_none_match, gateway.version):
            return Response(status_code=304, headers={"ETag": etag(gateway.version)})
        body = GatewayView.of(gateway).model_dump(mode="json")
        return JSONResponse(body, headers={"ETag": etag(gateway.version)})


def _history_routes(router: APIRouter, ctx: Context) -> None:
    """A gateway's environments, and its timeline (its phases and events)."""
    reader = Depends(ctx.caller(Role.READER))

    @router.get("/{ref}/environments", response_model=list[EnvironmentView], responses=_READ)
    def environments(ref: Ref, caller: Caller = reader) -> list[EnvironmentView]:
        return [EnvironmentView.of(e) for e in Writer(ctx.store).environments(ref)]

    @router.get("/{ref}/timeline", response_model=Timeline, responses=_READ)
    def timeline(ref: Ref, caller: Caller = reader) -> Timeline:
        writer = Writer(ctx.store)
        gateway = writer.get(ref)
        events = events_of(writer.events(gateway.id))
        return Timeline(
            gateway=GatewayView.of(gateway),
            phases=[SpanView.of(span) for span in phase_spans(events, now=ctx.clock())],
            events=[EventView.of(e) for e in events],
        )


def _change_routes(router: APIRouter, ctx: Context) -> None:
    writer_role = Depends(ctx.caller(Role.WRITER))

    @router.post("", status_code=201, response_model=GatewayView, responses=_WRITE)
    def create(
        body: CreateGateway,
        idempotency_key: IdempotencyKey = None,
        caller: Caller = writer_role,
    ) -> Response:
        request = Request(
            caller, "POST", "/v1/gateways", body.model_dump(mode="json"), idempotency_key
        )

        def write(writer: Writer) -> Gateway:
            return writer.create(body.name, body.spec, stopped=body.stopped)

        return ctx.writes.perform(request, write, status=201, location=True)

    @router.patch("/{ref}", response_model=GatewayView, responses=_WRITE)
    def update(
        ref: Ref,
        body: UpdateGateway,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
        caller: Caller = writer_role,
    ) -> Response:
        expected = expected_version(if_match)
        changes = body.changes()
        request = Request(caller, "PATCH", f"/v1/gateways/{ref}", changes, idempotency_key)

        def write(writer: Writer) -> Gateway:
            return writer.update(ref, **changes, expected_version=expected)

        return ctx.writes.perform(request, write, status=200)


def _action_routes(router: APIRouter, ctx: Context) -> None:
    """Writes that take only the gateway and the version they expect: the three actions, and
    DELETE (asynchronous: 202, and the gateway goes through Deleting to Deleted)."""
    for action in ("start", "stop", "restart"):
        doc = f"Ask for a {action}: the provisioner carries it out afterwards."
        router.add_api_route(
            f"/{{ref}}/{action}",
            _versioned_write(ctx, "POST", action, status=200, doc=doc),
            methods=["POST"],
            name=action,
            response_model=GatewayView,
            responses=_WRITE,
        )
    doc = "Deletion is asynchronous: 202, and the gateway goes through Deleting to Deleted."
    router.add_api_route(
        "/{ref}",
        _versioned_write(ctx, "DELETE", "delete", status=202, doc=doc),
        methods=["DELETE"],
        name="delete",
        status_code=202,
        response_model=GatewayView,
        responses=_WRITE,
    )


def _versioned_write(
    ctx: Context, method: str, call: str, *, status: int, doc: str
) -> Callable[..., Response]:
    """An endpoint calling `Writer.<call>(ref, expected_version=...)`: a POST to
    `/{ref}/<call>`, or the DELETE of `/{ref}`."""
    writer_role = Depends(ctx.caller(Role.WRITER))
    suffix = "" if method == "DELETE" else f"/{call}"

    def endpoint(
        ref: Ref,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
        caller: Caller = writer_role,
    ) -> Response:
        expected = expected_version(if_match)
        request = Request(caller, method, f"/v1/gateways/{ref}{suffix}", None, idempotency_key)

        def write(writer: Writer) -> Gateway:
            versioned: Callable[..., Gateway] = getattr(writer, call)
            return versioned(ref, expected_version=expected)

        return ctx.writes.perform(request, write, status=status)

    endpoint.__doc__ = doc
    return endpoint


def _wait_route(router: APIRouter, ctx: Context) -> None:
    reader = Depends(ctx.caller(Role.READER))

    @router.get("/{ref}/wait", response_model=WaitResult, responses=responses(*_READ_ERRORS, 429))
    async def wait(
        ref: Ref,
        until: Annotated[str, Query(alias="for", description="phase=Started (a phase)")],
        caller: Caller = reader,
        version: Annotated[int, Query(ge=0, description="the write that made it")] = 0,
        timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 30.0,
    ) -> WaitResult:
        target = Target(_phase(until), version)
        writer = Writer(ctx.store)
        settled = await ctx.waits.wait(lambda: writer.get(ref), target, timeout)
        gateway = None if settled.gateway is None else GatewayView.of(settled.gateway)
        verdict = str(settled.verdict)
        return WaitResult(met=verdict == "met", verdict=verdict, gateway=gateway)


def _phase(text: str) -> Phase:
    key, _, value = text.partition("=")
    try:
        if key.strip() != "phase":
            raise ValueError
        return Phase(value.strip())
    except ValueError:
        phases = ", ".join(Phase)
        detail = f"for: phase=<one of {phases}>, such as phase=Started"
        raise invalid(detail, [FieldProblem(field="for", message=detail)]) from None
