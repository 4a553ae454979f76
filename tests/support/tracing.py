"""Spans collected in memory with the OpenTelemetry SDK's own exporter.

OpenTelemetry allows one global tracer provider per process: the first user installs an SDK
provider (or finds the one the command line installed), and each test reads only the spans it
made, after clearing the exporter.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

_exporter: InMemorySpanExporter | None = None


def collecting_exporter() -> InMemorySpanExporter:
    """The process's in-memory exporter, installed on the global SDK provider on first use."""
    global _exporter
    if _exporter is None:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        _exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
    return _exporter


def hex_trace(span: ReadableSpan) -> str:
    return format_trace_id(span.context.trace_id)


def hex_span(span: ReadableSpan) -> str:
    return format_span_id(span.context.span_id)


def traceparent_of(span: ReadableSpan) -> str:
    return f"00-{hex_trace(span)}-{hex_span(span)}-01"


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]
