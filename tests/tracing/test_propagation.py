"""W3C trace context in and out: request headers, outbox events, stream entries, JSON logs, the
command line's own trace, and export only when an OTLP endpoint is set."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import set_span_in_context

from outbox.runtime import tracing
from outbox.runtime.logs import JsonFormatter
from outbox.runtime.tracer_provider import tracer_provider
from outbox.store.memory.store import MemoryStore
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from tests.support.cli import invoke_outbox
from tests.support.tracing import hex_span, hex_trace, named, parent_of

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def test_a_traceparent_header_of_any_letter_case_is_continued(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.request_span("GET /gateways", {"TraceParent": CALLER}) as span:
        assert tracing.trace_id(span) == CALLER_TRACE


@pytest.mark.parametrize("header", ["", "00-xyz", "ff-" + CALLER[3:], "00-" + "0" * 32 + "-1-01"])
def test_a_missing_or_malformed_traceparent_starts_a_new_trace(
    header: str, spans: InMemorySpanExporter
) -> None:
    with tracing.request_span("GET /gateways", {"traceparent": header}) as span:
        assert tracing.trace_id(span) not in (None, CALLER_TRACE)
    (server,) = spans.get_finished_spans()
    assert server.parent is None


def test_outside_any_trace_nothing_is_carried() -> None:
    assert tracing.trace_fields() == {}
    assert tracing.ids() is None
    assert tracing.link_to(None) is None
    assert tracing.link_to("00-garbage") is None


def test_the_writer_stores_traceparent_and_tracestate_and_the_stream_entry_carries_them(
    spans: InMemorySpanExporter,
) -> None:
    store = MemoryStore()
    headers = {"traceparent": CALLER, "tracestate": "vendor=abc"}
    with tracing.request_span("POST /gateways", headers):
        created = Writer(store).create("edge", {"image": "nginx:1.27"})

    (event,) = Writer(store).events("edge")
    (insert,) = named(spans.get_finished_spans(), "outbox insert")
    assert event.traceparent == f"00-{CALLER_TRACE}-{hex_span(insert)}-01"
    assert event.tracestate == "vendor=abc"
    assert (created.traceparent, created.tracestate) == (event.traceparent, event.tracestate)
    stream = MemoryStream(StreamConfig(stream="events:gateway"))
    stream.seed_marks({}, token=1)
    stream.publish([event], token=1)
    ((_, fields),) = stream.entries()
    assert (fields["traceparent"], fields["tracestate"]) == (event.traceparent, "vendor=abc")


def test_json_logs_carry_the_trace_and_span_id_of_the_work_logged(
    spans: InMemorySpanExporter,
) -> None:
    def formatted() -> dict[str, str]:
        record = logging.LogRecord(
            "outbox.test", logging.INFO, __file__, 1, "gw_1 %s", ("x",), None
        )
        return json.loads(JsonFormatter().format(record))  # type: ignore[no-any-return]

    with tracing.request_span("POST /gateways", {"traceparent": CALLER}) as span:
        inside = formatted()
    outside = formatted()

    assert (inside["trace_id"], inside["span_id"]) == tracing.ids(span)
    assert inside["trace_id"] == CALLER_TRACE
    assert "trace_id" not in outside and outside["message"] == "gw_1 x"


def test_the_command_line_starts_a_trace_per_write_and_prints_its_id_with_v(
    spans: InMemorySpanExporter,
) -> None:
    store = MemoryStore()

    result = invoke_outbox(store, "-v", "gateway", "create", "edge", "--image", "nginx:1.27")

    assert result.exit_code == 0, result.output
    found = re.search(r"trace_id ([0-9a-f]{32})", result.stderr)
    assert found, result.stderr
    (event,) = Writer(store).events("edge")
    assert event.traceparent is not None and event.traceparent.split("-")[1] == found[1]
    finished = spans.get_finished_spans()
    (command,) = named(finished, "outbox gateway create")
    (insert,) = named(finished, "outbox insert")
    assert command.parent is None and hex_trace(command) == found[1]
    assert parent_of(insert, finished) is command


def test_without_v_the_trace_id_is_not_printed(spans: InMemorySpanExporter) -> None:
    result = invoke_outbox(MemoryStore(), "gateway", "create", "edge", "--image", "nginx:1.27")

    assert result.exit_code == 0, result.output
    assert "trace_id" not in result.output


# -- export ---------------------------------------------------------------------------------------


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that only counts what it is sent."""

    received: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Collector.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_spans_are_exported_over_otlp_when_the_endpoint_is_set(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    provider = tracer_provider("outbox-test")

    provider.get_tracer("test").start_span("outbox insert").end()
    provider.force_flush()

    assert Collector.received == ["/v1/traces"]
    provider.shutdown()


def test_without_an_endpoint_spans_only_get_ids_in_the_callers_trace(
    collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    tracer = tracer_provider("outbox-test").get_tracer("test")

    root = tracer.start_span("outbox gateway create")
    child = tracer.start_span("outbox insert", context=set_span_in_context(root))
    caller = tracer.start_span(
        "outbox insert", context=tracing.extract_context({"traceparent": CALLER})
    )

    assert not root.is_recording() and not child.is_recording()
    root_context, child_context = root.get_span_context(), child.get_span_context()
    assert root_context.is_valid and root_context.trace_flags.sampled  # exporters downstream record
    assert child_context.trace_id == root_context.trace_id
    assert child_context.span_id != root_context.span_id
    assert tracing.trace_id(caller) == CALLER_TRACE
    assert Collector.received == []
