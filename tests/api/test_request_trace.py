"""A request's trace reaches the outbox event in a process that exports nothing: the API runs on
the propagation-only provider there (`outbox/runtime/tracer_provider.py`), which the tracing
tests, with the SDK's provider installed for the whole test process, cannot show. Hence a
process."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, os
from fastapi.testclient import TestClient
from outbox.store.memory.store import MemoryStore
from outbox_api.tokens import Role, Tokens
from outbox.runtime.tracer_provider import configure_tracing
from outbox.writer import Writer
from outbox_api.app import create_app
from outbox_api.settings import ApiSettings

configure_tracing("outbox-api", environ={})
store = MemoryStore()
bearer = Tokens(store).create("ci", Role.WRITER).bearer
client = TestClient(create_app(store, settings=ApiSettings(_env_file=None)))
response = client.post(
    "/v1/gateways",
    json={"name": "edge", "spec": {"image": "nginx:1.27"}},
    headers={"Authorization": f"Bearer {bearer}", "traceparent": os.environ["CALLER"]},
)
(event,) = Writer(store).events("edge")
print(json.dumps([response.status_code, event.actor, event.traceparent]))
"""

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


def test_without_an_exporter_the_event_continues_the_callers_trace() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={"CALLER": CALLER, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    status, actor, traceparent = json.loads(done.stdout.strip().splitlines()[-1])
    assert (status, actor) == (201, "token:ci")
    _, trace_id, span_id, _ = traceparent.split("-")
    assert trace_id == CALLER_TRACE, "the request's trace was not continued"
    assert span_id != "00f067aa0ba902b7", "the writer's own span, a child of the caller's"
