"""RFC 9457 problem details: every error the API answers, with one stable `type` per kind.

`problem_for` is the pure mapping from the product's typed errors to HTTP; the handlers that
turn exceptions into `application/problem+json` responses are installed by `install`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from outbox.domain.errors import (
    BackendUnavailable,
    CommitOutcomeUnknown,
    Conflict,
    InvalidInput,
    NameTaken,
    NotFound,
    OutboxError,
    TransitionRefused,
    VersionConflict,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:outbox:problem:"
RETRY_AFTER_SECONDS = 5


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field ('' for the whole body)")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="stable identifier of the kind of error")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="each invalid field (422 only)"
    )


@dataclass
class ApiProblem(Exception):
    """Raised by the routes: answered as a problem (with these extra headers)."""

    status: int
    kind: str
    title: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    errors: list[FieldProblem] | None = None

    def response(self) -> JSONResponse:
        body = Problem(
            type=TYPE_PREFIX + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            errors=self.errors,
        )
        return JSONResponse(
            body.model_dump(exclude_none=True),
            status_code=self.status,
            headers=self.headers,
            media_type=MEDIA_TYPE,
        )


# The most specific class first: the first match answers.
_STATUSES: tuple[tuple[type[OutboxError], int, str, str], ...] = (
    (TransitionRefused, 409, "transition-refused", "Transition refused"),
    (NameTaken, 409, "name-in-use", "Name or host in use"),
    (VersionConflict, 412, "version-mismatch", "Version mismatch"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
)


def problem_for(error: OutboxError) -> ApiProblem:
    """The HTTP answer to each of the product's errors."""
    detail = str(error)
    if isinstance(error, InvalidInput):
        return invalid(detail, [FieldProblem(field=_field_of(detail), message=detail)])
    if isinstance(error, CommitOutcomeUnknown):
        return unavailable("commit-outcome-unknown", "Commit outcome unknown", detail)
    if isinstance(error, BackendUnavailable):
        return unavailable("backend-unavailable", "Backend unavailable", detail)
    for kind_of_error, status, kind, title in _STATUSES:
        if isinstance(error, kind_of_error):
            return ApiProblem(status, kind, title, detail)
    return ApiProblem(500, "internal", "Internal error", "the server failed; see its log")


def invalid(detail: str, errors: list[FieldProblem]) -> ApiProblem:
    return ApiProblem(422, "invalid-input", "Invalid input", detail, errors=errors)


def unavailable(kind: str, title: str, detail: str) -> ApiProblem:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return ApiProblem(503, kind, title, detail, headers=headers)


def _field_of(detail: str) -> str:
    """The writer names the field first (`replicas: must be ...`); `name ...` for names."""
    head = detail.split(":", 1)[0]
    if head != detail and " " not in head:
        return head
    return "name" if detail.startswith("name ") else ""


def _validation_problem(error: RequestValidationError) -> ApiProblem:
    errors = []
    for detail in error.errors():
        location = [str(part) for part in detail.get("loc", ()) if part != "body"]
        message = str(detail.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(FieldProblem(field=".".join(location), message=message))
    summary = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors)
    return invalid(summary or "invalid request", errors)


_HTTP_KINDS = {
    401: ("unauthenticated", "Unauthenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
}


def install(app: FastAPI, *, identify: Callable[[str | None], object]) -> None:
    """Every error becomes a problem: ours, FastAPI's validation, Starlette's, and the rest.

    FastAPI reads and validates a body before it runs the token check; `identify` (which
    raises the 401) runs first, so an unknown caller learns nothing about its input.
    """

    def unknown_caller(request: Request) -> JSONResponse | None:
        try:
            identify(request.headers.get("authorization"))
        except ApiProblem as problem:
            return problem.response()
        return None

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return unknown_caller(request) or _validation_problem(error).response()

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 400:  # a body FastAPI could not parse (not JSON, not UTF-8)
            return unknown_caller(request) or _unparsable(str(error.detail)).response()
        return _http_problem(error).response()

    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(OutboxError, _on_outbox_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, _on_anything)


async def _on_problem(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblem)
    return error.response()


async def _on_outbox_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, OutboxError)
    problem = problem_for(error)
    if problem.status == 500:
        log.error("unexpected %s: %s", type(error).__name__, error)
    return problem.response()


async def _on_anything(_: Request, error: Exception) -> JSONResponse:
    # A bug of ours: logged with its traceback here, never sent to the client.
    log.exception("unexpected error answering a request")
    return ApiProblem(500, "internal", "Internal error", "the server failed").response()


def _unparsable(detail: str) -> ApiProblem:
    return invalid(f"body: {detail}", [FieldProblem(field="body", message=detail)])


def _http_problem(error: StarletteHTTPException) -> ApiProblem:
    kind, title = _HTTP_KINDS.get(error.status_code, ("http-error", "HTTP error"))
    headers = dict(error.headers or {})
    return ApiProblem(error.status_code, kind, title, str(error.detail), headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer."""
    return {
        status: {"description": _describe(status)}
        if status < 400
        else {"model": Problem, "description": _describe(status)}
        for status in statuses
    }


def as_problem_json(document: dict[str, Any]) -> dict[str, Any]:
    """Error responses are documented as `application/problem+json` alone (FastAPI puts a
    response model under `application/json`); changes `document` in place and returns it."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    response["content"] = {MEDIA_TYPE: content["application/json"]}
    return document


def _describe(status: int) -> str:
    return {
        304: "Not modified",
        401: "Missing or unknown token",
        403: "The token's role does not allow this",
        404: "No such gateway or token",
        409: "Refused transition, name or host in use, or idempotency key in flight",
        412: "If-Match does not match the gateway's version",
        413: "Request body too large",
        422: "Invalid input, naming each field; or an idempotency key reused with another body",
        429: "Too many concurrent waits",
        503: "A backend is unavailable; retry after Retry-After seconds",
    }.get(status, "Error")
