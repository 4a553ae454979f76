"""Trace context across the outbox, with OpenTelemetry: from a request, onto the outbox event and
its stream entry (W3C `traceparent`, `tracestate`), through the relay's batch and into the
provisioner's steps, so that one change can be followed from the request to the cluster.

Propagation is always on; which spans are recorded and exported is up to the tracer provider
(`outbox.runtime.tracer_provider`, installed by the command line). Before one is installed, the
OpenTelemetry API's no-op provider still carries a caller's context on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    format_span_id,
    format_trace_id,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from outbox.domain.events import TRACEPARENT, TRACESTATE, OutboxEvent
from outbox.domain.model import Gateway

INSTRUMENTATION = "gateway-outbox"
MAX_LINKS = 128

# The OpenTelemetry idiom: a proxy that follows the global provider, whenever it is installed
# (asking the SDK's provider for a tracer per span would cost more than the span).
_TRACER = trace.get_tracer(INSTRUMENTATION)
# W3C Trace Context only: the stream contract names `traceparent` and `tracestate`, nothing else.
_W3C = TraceContextTextMapPropagator()


# -- carrying the context -------------------------------------------------------------------------


def trace_fields(context: Context | None = None) -> dict[str, str]:
    """`traceparent` (and `tracestate` when there is one) of the current trace, or of `context`;
    empty outside any trace."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=context)
    return carrier


def extract_context(headers: Mapping[str, str]) -> Context:
    """The trace context in request headers (any letter case); empty when there is none or it
    is malformed, and a span started in it then begins a new trace."""
    carrier = {key.lower(): value for key, value in headers.items()}
    return _W3C.extract(carrier)


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The trace context stored on a document or stream entry (empty for older ones)."""
    if not traceparent:
        return Context()
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier[TRACESTATE] = tracestate
    return _W3C.extract(carrier)


def link_to(traceparent: str | None, tracestate: str | None = None) -> Link | None:
    """A link to the span that `traceparent` names; None when it names none."""
    span_context = trace.get_current_span(context_of(traceparent, tracestate)).get_span_context()
    return Link(span_context) if span_context.is_valid else None


def ids(span: Span | None = None) -> tuple[str, str] | None:
    """(trace id, span id) in hex of `span`, or of the current span; None outside any trace."""
    span_context = (span or trace.get_current_span()).get_span_context()
    if not span_context.is_valid:
        return None
    return format_trace_id(span_context.trace_id), format_span_id(span_context.span_id)


def trace_id(span: Span | None = None) -> str | None:
    found = ids(span)
    return None if found is None else found[0]


# -- spans ----------------------------------------------------------------------------------------


@contextmanager
def span(
    name: str,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Iterable[Link] = (),
) -> Iterator[Span]:
    """A span made current while the block runs: a child of `parent`, or of the current span
    when `parent` is None; an exception leaving the block is recorded on it."""
    with _TRACER.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {}), links=list(links)
    ) as current:
        yield current


def _recording() -> bool:
    """Whether this process records spans: not with OpenTelemetry's no-op provider, nor with the
    propagation-only one (a no-op subclass) a process installs when nothing exports."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.NoOpTracerProvider | trace.ProxyTracerProvider)


@contextmanager
def request_span(name: str, headers: Mapping[str, str]) -> Iterator[Span]:
    """The server span of one request: continues the caller's `traceparent`, or starts a trace."""
    with span(name, parent=extract_context(headers), kind=SpanKind.SERVER) as current:
        yield current


@contextmanager
def command_span(name: str) -> Iterator[Span]:
    """The span of one command-line write: a new trace, whatever the process did before."""
    with span(name, parent=Context(), kind=SpanKind.CLIENT) as current:
        yield current


@contextmanager
def write_span(ref: str) -> Iterator[Span]:
    """The writer's span around one transaction: the change and its outbox insert."""
    with span("outbox insert", kind=SpanKind.PRODUCER, attributes={"gateway.ref": ref}) as current:
        yield current


def describe_write(event: OutboxEvent) -> None:
    """Name the event on the current span (the writer's), once it is decided."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(event_attributes(event))


@contextmanager
def publish_span(events: Iterable[OutboxEvent]) -> Iterator[Span]:
    """The relay's span of one batch: a trace of its own, linked to the trace of each event
    (a batch mixes many traces, and a span has one parent); to the first 128 of a larger batch."""
    batch = list(events)
    # The SDK keeps 128 links per span (OTEL_LINK_COUNT_LIMIT): parse no more than it keeps,
    # and none where no span is recorded (the links would be dropped unread).
    links = [
        link
        for event in (batch[:MAX_LINKS] if _recording() else [])
        if (link := link_to(event.traceparent, event.tracestate)) is not None
    ]
    attributes = {"messaging.operation": "publish", "messaging.batch.message_count": len(batch)}
    with span(
        "outbox publish",
        parent=Context(),
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        links=links,
    ) as current:
        yield current


def step_span(gateway: Gateway) -> AbstractContextManager[Span]:
    """The provisioner's span of one reconcile step of `gateway`. A change in progress continues
    the trace of the intent that asked for it (stored on the gateway by the writer), so that
    Starting and Started are one trace with the request; a gateway at rest (a drift check, the
    echo of our own event) starts a trace of its own."""
    parent = Context() if gateway.at_rest else context_of(gateway.traceparent, gateway.tracestate)
    attributes = {
        "gateway.id": gateway.id,
        "gateway.name": gateway.name,
        "gateway.version": gateway.version,
        "gateway.state": str(gateway.state),
        "gateway.phase": str(gateway.phase),
    }
    return span("reconcile step", parent=parent, attributes=attributes)


def describe_step(current: Span, action: str, *, failed: bool, note: str) -> None:
    if not current.is_recording():
        return
    current.set_attribute("reconcile.action", action)
    current.set_attribute("reconcile.note", note)
    if failed:
        current.set_status(Status(StatusCode.ERROR, note))


def event_attributes(event: OutboxEvent) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "gateway.id": event.aggregate_id,
        "outbox.event_id": event.id,
        "outbox.event_type": str(event.type),
        "outbox.version": event.version,
    }
    if event.actor:
        attributes["outbox.actor"] = event.actor
    return attributes
