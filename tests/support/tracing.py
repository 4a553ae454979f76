"""Spans collected in memory with the OpenTelemetry SDK's own exporter.

OpenTelemetry takes the first tracer provider a process installs, and a command-line test would
install the product's (which records nothing without an OTLP endpoint). So the SDK's provider is
installed when this module is imported, which the tracing tests' conftest does while pytest
collects, before any test runs. Spans are kept only while a test collects them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id


class _Collector(SpanProcessor):
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.active = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.active:
            self.exporter.export([span])


def _install() -> _Collector:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        raise RuntimeError("another tracer provider was installed before the SDK's")
    collector = _Collector()
    provider.add_span_processor(collector)
    return collector


_collector = _install()


@contextmanager
def collected_spans() -> Iterator[InMemorySpanExporter]:
    """The spans that end inside the block."""
    _collector.exporter.clear()
    _collector.active = True
    try:
        yield _collector.exporter
    finally:
        _collector.active = False
        _collector.exporter.clear()


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
