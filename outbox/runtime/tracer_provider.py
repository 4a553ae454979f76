"""The process's OpenTelemetry tracer provider: the SDK's, exporting over OTLP/HTTP, when an
OTLP endpoint is set; otherwise one that only propagates (spans get ids, nothing is recorded), so
that tracing costs nothing measurable where nothing reads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
)
from opentelemetry.util.types import Attributes

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def configure_tracing(
    service: str, *, environ: Mapping[str, str] = os.environ
) -> trace.TracerProvider:
    """Install the process's tracer provider (`tracer_provider`) unless one is installed already:
    OpenTelemetry takes the first one a process sets."""
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    provider = tracer_provider(service, environ=environ)
    trace.set_tracer_provider(provider)
    return provider


def tracer_provider(
    service: str, *, environ: Mapping[str, str] = os.environ
) -> trace.TracerProvider:
    """With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, the SDK's
    provider exporting over OTLP/HTTP; the exporter reads them, and the other OTEL_* variables, as
    OpenTelemetry documents. `service` names the service unless OTEL_SERVICE_NAME does. Without
    an endpoint, a provider that only propagates: spans get ids, nothing is recorded."""
    if not any(environ.get(name) for name in OTLP_ENDPOINTS):
        return PropagatingTracerProvider()
    # Imported here: only a process that exports needs the exporter (and protobuf).
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    named = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


class PropagatingTracer(trace.NoOpTracer):
    """The tracer while nothing exports: each span gets an id of its own in the caller's trace,
    or in a new one (sampled, so that a process that does export records what follows), and
    nothing else. A recording span that nobody reads would cost allocations on every write."""

    def __init__(self) -> None:
        self._ids = RandomIdGenerator()

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
        else:
            trace_id, flags, state = self._ids.generate_trace_id(), _SAMPLED, TraceState()
        span_id = self._ids.generate_span_id()
        return NonRecordingSpan(SpanContext(trace_id, span_id, False, flags, state))


class PropagatingTracerProvider(trace.NoOpTracerProvider):
    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return PropagatingTracer()
