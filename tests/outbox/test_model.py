"""The model's pure parts: validation and its messages, documents, at-rest, events, time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from outbox.domain.clock import as_utc
from outbox.domain.deadlines import Timeouts, phase_deadline, start_deadline
from outbox.domain.errors import InvalidInput
from outbox.domain.events import STREAM_FIELDS, EventType, OutboxEvent
from outbox.domain.model import (
    Gateway,
    GatewaySpec,
    LastError,
    Phase,
    Retry,
    State,
    check_environment,
    check_host,
    check_image,
    check_name,
    is_gateway_id,
    new_gateway_id,
)
from outbox.writer import parse_spec

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


# -- names, hosts, images, environments ----------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "edge", "edge-2", "a1-b2", "x" * 40])
def test_a_dns_1035_label_of_at_most_40_characters_is_a_name(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "name must not be empty"),
        ("x" * 41, "is longer than 40 characters"),
        ("Edge", "is not a DNS-1035 label"),
        ("1edge", "is not a DNS-1035 label"),
        ("-edge", "is not a DNS-1035 label"),
        ("edge-", "is not a DNS-1035 label"),
        ("ed_ge", "is not a DNS-1035 label"),
        ("ed.ge", "is not a DNS-1035 label"),
        ("gw_0123456789abcdef", "is not a DNS-1035 label"),  # ids and names never collide
    ],
)
def test_a_bad_name_is_refused_with_the_reason(name: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_name(name)


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("edge.example.com", "edge.example.com"),
        ("EDGE.Example.COM.", "edge.example.com"),
        ("localhost", "localhost"),
        ("1-2.example.com", "1-2.example.com"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_a_dns_name_is_a_host_stored_lowercase_without_the_root_dot(host: str, stored: str) -> None:
    assert check_host(host) == stored


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("", "host must not be empty"),
        (".", "host must not be empty"),
        ("10.0.0.1", "is an IP address, not a DNS name"),
        ("::1", "is an IP address, not a DNS name"),
        ("a" * 64 + ".com", "is not a DNS name"),
        ("-edge.example.com", "is not a DNS name"),
        ("edge..example.com", "is not a DNS name"),
        ("ed_ge.example.com", "is not a DNS name"),
        ("*.example.com", "is not a DNS name"),
        ("edge.example.com/path", "is not a DNS name"),
        (("a" * 63 + ".") * 4 + "com", "is longer than 253 characters"),
    ],
)
def test_a_bad_host_is_refused_with_the_reason(host: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_host(host)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.27",
        "library/nginx:latest",
        "kong/kong-gateway:3.7.1.0-ubuntu",
        "localhost/gateway",
        "registry.example.com:5000/team/gateway:v2",
        f"ghcr.io/acme/gateway@{DIGEST}",
        f"ghcr.io/acme/gateway:1.0@{DIGEST}",
        "Registry.Example.com/team/gateway",  # domains are case-insensitive
        "nginx:V1_Tag",
    ],
)
def test_a_valid_image_reference_is_an_image(image: str) -> None:
    assert check_image(image) == image


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("", "image must not be empty"),
        ("Nginx", "is not a valid image reference"),
        ("Team/gateway", "is not a valid image reference"),
        ("ghcr.io/Acme/gateway", "is not a valid image reference"),
        ("nginx:", "is not a valid image reference"),
        ("nginx:" + "a" * 129, "is not a valid image reference"),
        ("nginx 1.27", "is not a valid image reference"),
        ("nginx@sha256:abc", "is not a valid image reference"),
        ("https://ghcr.io/acme/gateway", "is not a valid image reference"),
        ("a" * 513, "is not a valid image reference"),
    ],
)
def test_a_bad_image_is_refused_with_the_reason(image: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_image(image)


@pytest.mark.parametrize("name", ["dev", "0", "prod-eu-1", "x" * 63])
def test_a_dns_label_is_an_environment_name(name: str) -> None:
    assert check_environment(name) == name


@pytest.mark.parametrize("name", ["", "Dev", "-dev", "dev-", "d_v", "d.v", "x" * 64])
def test_a_bad_environment_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a DNS label"):
        check_environment(name)


# -- the spec and its messages -------------------------------------------------------------------


def test_a_spec_has_sensible_defaults() -> None:
    assert GatewaySpec(image="nginx") == GatewaySpec(
        image="nginx", replicas=1, port=8080, host=None, environments=()
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 0}, "replicas: Input should be greater than or equal to 1"),
        ({"replicas": 101}, "replicas: Input should be less than or equal to 100"),
        ({"replicas": True}, "replicas: must be a whole number"),
        ({"replicas": 2.5}, "replicas: must be a whole number"),
        ({"port": 0}, "port: Input should be greater than or equal to 1"),
        ({"port": 65536}, "port: Input should be less than or equal to 65535"),
        ({"environments": ["a", "b", "a", "b"]}, "environments: environments repeat: a, b"),
        ({"environments": [f"e{n}" for n in range(33)]}, "environments: at most 32 environments"),
        ({"environments": ["ok", "No"]}, "environments: environment 'No' is not a DNS label"),
        ({"host": "10.0.0.1"}, "host: host '10.0.0.1' is an IP address, not a DNS name"),
        ({"image": "Nginx"}, "image: image 'Nginx' is not a valid image reference"),
        ({"replica": 2}, "replica: Extra inputs are not permitted"),
    ],
)
def test_a_bad_spec_is_refused_with_one_line_naming_the_field(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_spec({"image": "nginx", **values})

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_every_problem_of_a_spec_is_listed() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_spec({"image": "", "replicas": 0, "port": 0})

    assert str(refused.value) == (
        "image: image must not be empty; "
        "replicas: Input should be greater than or equal to 1; "
        "port: Input should be greater than or equal to 1"
    )


@pytest.mark.parametrize(("replicas", "port"), [(1, 1), (100, 65535), (2.0, 443.0)])
def test_whole_numbers_at_the_bounds_are_accepted(replicas: float, port: float) -> None:
    spec = parse_spec({"image": "nginx", "replicas": replicas, "port": port})

    assert (spec.replicas, spec.port) == (int(replicas), int(port))


# -- the gateway document -------------------------------------------------------------------------


def a_gateway(**changes: object) -> Gateway:
    spec = GatewaySpec(image="nginx:1.27", host="edge.example.com", environments=("dev", "prod"))
    values: dict[str, object] = {
        "_id": "gw_1",
        "name": "edge",
        "live_name": "edge",
        "host": spec.host,
        "live_host": spec.host,
        "spec": spec,
        "spec_version": 1,
        "state": State.RUNNING,
        "phase": Phase.CREATED,
        "version": 1,
        "phase_changed_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Gateway.model_validate({**values, **changes})


def test_a_gateway_round_trips_through_its_document() -> None:
    gateway = a_gateway(
        last_error=LastError(reason="StartTimeout", message="slow", at=NOW),
        retry=Retry(attempts=3, next_at=NOW + timedelta(seconds=8)),
    )

    document = gateway.to_document()

    assert document["_id"] == "gw_1"
    assert document["spec"]["environments"] == ["dev", "prod"]
    assert Gateway.from_document(document) == gateway


def test_a_gateway_read_back_from_a_driver_becomes_aware_utc() -> None:
    document = a_gateway().to_document()
    document["created_at"] = NOW.replace(tzinfo=None)  # what tz_aware=False drivers return
    document["updated_at"] = str(NOW.replace(tzinfo=None))  # what nx-27017 returns after a $set

    gateway = Gateway.from_document(document)

    assert gateway.created_at == gateway.updated_at == NOW
    assert gateway.created_at.tzinfo is UTC


def test_a_gone_live_name_and_host_are_left_out_of_the_document_not_null() -> None:
    gateway = a_gateway(live_name=None, live_host=None, state=State.DELETED, phase=Phase.DELETED)

    document = gateway.to_document()

    assert "live_name" not in document
    assert "live_host" not in document
    assert Gateway.from_document(document) == gateway


def test_the_start_deadline_counts_from_the_request_for_a_start() -> None:
    gateway = a_gateway(
        phase=Phase.STARTING,
        phase_changed_at=NOW + timedelta(seconds=30),
        start_requested_at=NOW,
    )

    assert start_deadline(gateway, 60) == NOW + timedelta(seconds=60)
    assert Gateway.from_document(gateway.to_document()) == gateway


def test_a_document_older_than_the_start_request_counts_from_its_phase_change() -> None:
    document = a_gateway(phase=Phase.STARTING).to_document()
    del document["start_requested_at"]  # written before the field existed

    gateway = Gateway.from_document(document)

    assert gateway.start_requested_at is None
    assert start_deadline(gateway, 60) == NOW + timedelta(seconds=60)


TIMEOUTS = Timeouts(start=300, stop=120, delete=60)
LATER = NOW + timedelta(seconds=30)

DEADLINE_ROWS = {
    "Created: none yet": (Phase.CREATED, {}, None),
    "Starting: from the request": (
        Phase.STARTING,
        {"phase_changed_at": LATER, "start_requested_at": NOW},
        NOW + timedelta(seconds=300),
    ),
    "Starting, no request recorded: from the phase change": (
        Phase.STARTING,
        {"phase_changed_at": LATER},
        LATER + timedelta(seconds=300),
    ),
    "Started: none": (Phase.STARTED, {"start_requested_at": NOW}, None),
    "Stopping: from the phase change": (
        Phase.STOPPING,
        {"phase_changed_at": LATER, "start_requested_at": NOW},
        LATER + timedelta(seconds=120),
    ),
    "Stopped: none": (Phase.STOPPED, {}, None),
    "Deleting: from the phase change": (
        Phase.DELETING,
        {"phase_changed_at": LATER},
        LATER + timedelta(seconds=60),
    ),
    "Deleted: none": (Phase.DELETED, {"live_name": None, "live_host": None}, None),
}


@pytest.mark.parametrize(
    ("phase", "changes", "deadline"), DEADLINE_ROWS.values(), ids=DEADLINE_ROWS.keys()
)
def test_each_transient_phase_has_one_deadline(
    phase: Phase, changes: dict[str, object], deadline: datetime | None
) -> None:
    assert phase_deadline(a_gateway(phase=phase, **changes), TIMEOUTS) == deadline


def test_a_new_gateway_id_is_a_gateway_id_and_a_name_is_not() -> None:
    ids = {new_gateway_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(is_gateway_id(gateway_id) for gateway_id in ids)
    assert not is_gateway_id("edge")
    with pytest.raises(ValueError, match="is not a DNS-1035 label"):
        check_name(new_gateway_id())


def test_the_host_must_follow_the_spec() -> None:
    with pytest.raises(ValidationError, match=r"host must equal spec\.host"):
        a_gateway(host="other.example.com")


def test_evolve_validates_the_result_and_keeps_the_id() -> None:
    gateway = a_gateway()

    assert gateway.evolve(version=2).version == 2
    with pytest.raises(ValidationError):
        gateway.evolve(name="Not A Name")
    with pytest.raises(ValueError, match="id never changes"):
        gateway.evolve(_id="gw_2")


@pytest.mark.parametrize(
    ("state", "phase", "applied", "at_rest"),
    [
        (State.RUNNING, Phase.STARTED, {"applied_spec_version": 1}, True),
        (State.RUNNING, Phase.STARTED, {"applied_spec_version": 0}, False),
        (
            State.RUNNING,
            Phase.STARTED,
            {"applied_spec_version": 1, "restart_stamp": 5, "applied_restart_stamp": 4},
            False,
        ),
        (
            State.RUNNING,
            Phase.STARTED,
            {"applied_spec_version": 1, "restart_stamp": 5, "applied_restart_stamp": 5},
            True,
        ),
        (State.RESTARTING, Phase.STARTED, {"applied_spec_version": 1}, False),
        (State.RUNNING, Phase.CREATED, {}, False),
        (State.RUNNING, Phase.STARTING, {"applied_spec_version": 1}, False),
        (State.STOPPED, Phase.STOPPED, {}, True),
        (State.STOPPED, Phase.STARTED, {"applied_spec_version": 1}, False),
        (State.STOPPED, Phase.STOPPING, {}, False),
        (State.STOPPED, Phase.CREATED, {}, False),
        (State.DELETED, Phase.DELETED, {}, True),
        (State.DELETED, Phase.DELETING, {}, False),
        (State.DELETED, Phase.STOPPED, {}, False),
    ],
)
def test_at_rest_means_nothing_left_for_the_provisioner(
    state: State, phase: Phase, applied: dict[str, int], at_rest: bool
) -> None:
    assert a_gateway(state=state, phase=phase, **applied).at_rest is at_rest


# -- events and time -----------------------------------------------------------------------------


def test_an_event_renders_the_flat_string_fields_of_the_stream_contract() -> None:
    event = OutboxEvent.for_gateway(
        "gw_1",
        EventType.SPEC_UPDATED,
        version=7,
        at=NOW,
        payload={"spec_version": 2, "b": [1, "x"], "a": None},
    ).model_copy(update={"id": "ev_1"})

    fields = event.stream_fields()

    assert tuple(fields) == STREAM_FIELDS
    assert fields == {
        "event_id": "ev_1",
        "type": "GatewaySpecUpdated",
        "aggregate_type": "gateway",
        "aggregate_id": "gw_1",
        "version": "7",
        "occurred_at": "2026-01-01T12:00:00.123000Z",
        "payload": '{"a":null,"b":[1,"x"],"spec_version":2}',
    }
    assert json.loads(fields["payload"]) == event.payload


def test_a_new_event_is_unpublished_and_round_trips_through_its_document() -> None:
    event = OutboxEvent.for_gateway("gw_1", EventType.CREATED, version=1, at=NOW)

    assert event.id.startswith("ev_")
    assert (event.published_at, event.attempts, event.last_error) == (None, 0, None)
    assert OutboxEvent.from_document(event.to_document()) == event


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        (datetime(2026, 1, 1, 12, 0, 0, 123456), NOW),
        (datetime(2026, 1, 1, 14, 0, 0, 123999, tzinfo=timezone(timedelta(hours=2))), NOW),
        (NOW, NOW),
    ],
    ids=["naive is utc", "offset converted", "already utc"],
)
def test_times_are_aware_utc_truncated_to_the_millisecond(value: datetime, utc: datetime) -> None:
    result = as_utc(value)

    assert result == utc
    assert result.tzinfo is UTC
