"""Fixtures of the tracing tests: the spans each test made, collected in memory."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.tracing import collecting_exporter


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = collecting_exporter()
    exporter.clear()
    return exporter
