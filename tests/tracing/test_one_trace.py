"""One trace from the request to the cluster: `POST /v1/gateways` with the caller's
`traceparent` through the HTTP API's app, then the writer, the relay, the stream and the
provisioner in one process, collected with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from outbox.domain.events import EventType
from outbox.domain.model import Phase
from outbox_api.tokens import Role
from provisioner.cluster.port import TemporaryClusterError
from tests.support.api import build_api
from tests.support.clock import FakeClock
from tests.support.tracing import hex_span, hex_trace, named, parent_of, traceparent_of
from tests.support.world import World

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=5)
    yield world
    world.close()


def post_gateway(world: World, name: str, headers: dict[str, str]) -> str:
    """`POST /v1/gateways` through the HTTP API's app on the world's store, as a writer token."""
    api = build_api(world.store, world.clock)
    response = api.client.post(
        "/v1/gateways",
        json={"name": name, "spec": {"image": "nginx:1.27"}},
        headers={**api.headers(Role.WRITER), **headers},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def entry_of(world: World, event_type: EventType) -> dict[str, str]:
    return next(fields for _, fields in world.entries() if fields["type"] == event_type)


def test_one_trace_links_the_request_the_insert_the_publish_the_steps_the_apply_and_started(
    world: World, spans: InMemorySpanExporter
) -> None:
    post_gateway(world, "edge", {"traceparent": CALLER})
    world.settle()
    assert world.gateway("edge").phase is Phase.STARTED

    finished = spans.get_finished_spans()
    in_trace = [span for span in finished if hex_trace(span) == CALLER_TRACE]
    # The request continues the caller's trace, and the outbox insert is its child.
    (server,) = named(in_trace, "POST /v1/gateways")
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CALLER_SPAN
    (insert,) = named(in_trace, "outbox insert")
    assert parent_of(insert, in_trace) is server
    assert insert.attributes is not None
    assert insert.attributes["outbox.event_type"] == "GatewayCreated"

    # The stream entry carries the insert's context; the relay's batch span links to it.
    assert entry_of(world, EventType.CREATED)["traceparent"] == traceparent_of(insert)
    # The API recorded the change as made by the token that authenticated it.
    assert entry_of(world, EventType.CREATED)["actor"] == "token:test-writer"
    assert world.gateway("edge").created_by == "token:test-writer"
    assert any(
        link.context.span_id == insert.context.span_id
        for publish in named(finished, "outbox publish")
        for link in publish.links
    )

    # Each reconcile step continues the trace; the apply is a child of the step that made it.
    steps = named(in_trace, "reconcile step")
    assert len(steps) >= 2  # Created → Starting, then Starting → Started
    assert all(parent_of(step, in_trace) is insert for step in steps)
    (apply,) = named(in_trace, "kubernetes apply Deployment")
    assert apply.kind is SpanKind.CLIENT
    assert parent_of(apply, in_trace) in steps

    # Starting and Started are committed within steps of the same trace, and carry it on.
    for event_type in (EventType.STARTING, EventType.STARTED):
        (event,) = [e for e in world.writer.events("edge") if e.type is event_type]
        assert event.traceparent is not None
        assert event.traceparent.split("-")[1] == CALLER_TRACE
        assert event.traceparent.split("-")[2] in {hex_span(step) for step in steps}
        assert entry_of(world, event_type)["traceparent"] == event.traceparent


def test_a_request_without_traceparent_starts_a_trace_that_the_provisioner_continues(
    world: World, spans: InMemorySpanExporter
) -> None:
    post_gateway(world, "edge", {"content-type": "application/json"})
    world.settle()

    finished = spans.get_finished_spans()
    (server,) = named(finished, "POST /v1/gateways")
    assert server.parent is None
    started = [e for e in world.writer.events("edge") if e.type is EventType.STARTED]
    assert started[0].traceparent is not None
    assert started[0].traceparent.split("-")[1] == hex_trace(server)


def test_a_step_of_a_gateway_at_rest_starts_a_trace_of_its_own(
    world: World, spans: InMemorySpanExporter
) -> None:
    post_gateway(world, "edge", {"traceparent": CALLER})
    world.settle()
    spans.clear()

    world.provisioner().sweep(resync=True)  # a drift check, months after the request
    world.provisioner().wait_idle(10)

    steps = named(spans.get_finished_spans(), "reconcile step")
    assert steps, "the sweep looked at the gateway"
    assert all(step.parent is None and hex_trace(step) != CALLER_TRACE for step in steps)


def test_a_cluster_call_that_fails_marks_its_step_span_as_an_error(
    world: World, spans: InMemorySpanExporter
) -> None:
    world.cluster.fail_next("apply", TemporaryClusterError("the API server is busy", status=503))
    post_gateway(world, "edge", {"traceparent": CALLER})
    world.step()

    finished = spans.get_finished_spans()
    (apply,) = named(finished, "kubernetes apply Deployment")
    assert apply.status.status_code is StatusCode.ERROR  # the exception left the call's span
    step = parent_of(apply, finished)
    assert step is not None and step.status.status_code is StatusCode.ERROR
    assert world.gateway("edge").last_error is not None  # and the step recorded the failure
