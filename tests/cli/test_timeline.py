"""`outbox gateway timeline`: a gateway's retained events in order, and the time in each phase."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from outbox.domain.backoff import backoff
from outbox.domain.deadlines import Timeouts
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import Phase
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import OUTBOX
from outbox.views.timeline import format_seconds, phase_spans, short_payload, time_per_phase
from outbox.writer import Writer
from outbox_cli.app import App
from outbox_cli.gateway_cmd import gateway
from outbox_cli.main import cli
from provisioner.cluster.memory import MemoryCluster
from provisioner.decide import Config
from provisioner.reconciler import Reconciler
from tests.support.cli import empty_env_file
from tests.support.clock import FakeClock
from tests.support.servers import NxServer

T0 = datetime.fromisoformat("2026-01-01T12:00:00+00:00")


def event(version: int, seconds: float, type: EventType, phase: str | None = None) -> OutboxEvent:
    return OutboxEvent.for_gateway(
        "gw_1",
        type,
        version=version,
        at=T0 + timedelta(seconds=seconds),
        payload={} if phase is None else {"state": "Running", "phase": phase},
    )


# -- the pure part ------------------------------------------------------------------------------


def test_each_phase_lasts_until_the_next_phase_change_and_the_last_until_now() -> None:
    events = [
        event(1, 0, EventType.CREATED),
        event(2, 1.5, EventType.STARTING, "Starting"),
        event(3, 31.5, EventType.STARTED, "Started"),
    ]

    spans = phase_spans(events, now=T0 + timedelta(seconds=100))

    assert [(s.phase, s.seconds) for s in spans] == [
        (Phase.CREATED, 1.5),
        (Phase.STARTING, 30.0),
        (Phase.STARTED, 68.5),
    ]
    assert spans[-1].left_at is None
    assert spans[0].left_at == spans[1].entered_at


def test_events_that_keep_the_phase_do_not_split_it() -> None:
    events = [
        event(1, 0, EventType.CREATED),
        event(2, 10, EventType.START_REQUESTED),  # writer intent: no phase
        event(3, 20, EventType.STARTING, "Starting"),
        event(4, 50, EventType.FAILED, "Starting"),  # a retry later, still Starting
        event(5, 80, EventType.STARTED, "Started"),
    ]

    spans = phase_spans(events, now=T0 + timedelta(seconds=80))

    assert [(s.phase, s.seconds) for s in spans] == [
        (Phase.CREATED, 20.0),
        (Phase.STARTING, 60.0),
        (Phase.STARTED, 0.0),
    ]


def test_phases_visited_twice_are_summed_per_phase() -> None:
    events = [
        event(1, 0, EventType.CREATED),
        event(2, 10, EventType.STARTING, "Starting"),
        event(3, 20, EventType.STARTED, "Started"),
        event(5, 120, EventType.STARTING, "Starting"),  # a restart
        event(6, 125, EventType.STARTED, "Started"),
    ]

    spans = phase_spans(events, now=T0 + timedelta(seconds=200))

    assert time_per_phase(spans) == {"Created": 10.0, "Starting": 15.0, "Started": 175.0}


def test_events_given_out_of_order_are_read_in_version_order() -> None:
    events = [
        event(3, 20, EventType.STARTED, "Started"),
        event(1, 0, EventType.CREATED),
        event(2, 5, EventType.STARTING, "Starting"),
    ]

    spans = phase_spans(events, now=T0 + timedelta(seconds=20))

    assert [s.phase for s in spans] == [Phase.CREATED, Phase.STARTING, Phase.STARTED]


def test_when_retention_removed_the_beginning_the_spans_start_at_the_first_change_retained() -> (
    None
):
    events = [
        event(7, 1000, EventType.STOP_REQUESTED),
        event(8, 1001, EventType.STOPPING, "Stopping"),
        event(9, 1004, EventType.STOPPED, "Stopped"),
    ]

    spans = phase_spans(events, now=T0 + timedelta(seconds=1010))

    assert [(s.phase, s.seconds) for s in spans] == [
        (Phase.STOPPING, 3.0),
        (Phase.STOPPED, 6.0),
    ]


def test_no_events_no_spans() -> None:
    assert phase_spans([], now=T0) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "0.2s"),
        (9.96, "10.0s"),
        (42.7, "42s"),
        (185, "3m05s"),
        (7260, "2h01m"),
        (3 * 86400 + 4 * 3600, "3d04h"),
    ],
)
def test_durations_are_short_and_readable(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_a_payload_is_one_line_of_pairs_cut_to_the_width() -> None:
    payload = {"state": "Running", "spec": {"image": "nginx:1.27", "replicas": 2}}

    assert short_payload(payload) == 'state=Running spec={"image":"nginx:1.27","replicas":2}'
    cut = short_payload(payload, width=20)
    assert cut == "state=Running spec=…" and len(cut) == 20


# -- the command, on a history the real reconciler wrote ---------------------------------------


@pytest.fixture
def lived_gateway(memory_store: MemoryStore, clock: FakeClock) -> MemoryStore:
    """`edge` created, started (a 5 s rollout), then stopped; all by the real reconciler."""
    cluster = MemoryCluster(namespace="gateways", rollout_seconds=5, clock=clock)
    reconciler = Reconciler(
        store=memory_store,
        cluster=cluster,
        config=Config("gateways", Timeouts(start=300, stop=300, delete=300)),
        delay=lambda attempt: backoff(attempt, base=1, cap=8),
        clock=clock,
    )
    writer = Writer(memory_store, clock=clock)
    created = writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    clock.advance(2)
    reconciler.reconcile(created.id)  # → Starting
    clock.advance(6)
    reconciler.reconcile(created.id)  # rollout complete → Started
    clock.advance(60)
    writer.stop("edge")
    clock.advance(1)
    reconciler.reconcile(created.id)  # → Stopping → Stopped
    return memory_store


def run_timeline(store: MemoryStore, *args: str) -> Result:
    app = App()
    app._store = store
    return CliRunner().invoke(gateway, ["timeline", *args], obj=app)


def test_timeline_lists_every_event_in_order_with_the_time_in_each_phase(
    lived_gateway: MemoryStore,
) -> None:
    result = run_timeline(lived_gateway, "edge")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("edge (gw_") and lines[0].endswith("state Stopped, phase Stopped")
    types = [line.split()[3] for line in lines[2:] if line[:1].isdigit()]
    assert types == [
        "GatewayCreated",
        "GatewayStarting",
        "GatewayStarted",
        "GatewayStopRequested",
        "GatewayStopping",
        "GatewayStopped",
    ]
    assert "2026-01-01 12:00:00.000Z" in lines[2]
    phases = lines[lines.index("time in each phase") + 1 :]
    assert [line.split()[:2] for line in phases] == [
        ["Created", "2.0s"],
        ["Starting", "6.0s"],
        ["Started", "1m01s"],
        ["Stopping", "0.0s"],
        ["Stopped", phases[-1].split()[1]],  # until the wall clock's now
    ]


def test_timeline_json_carries_events_spans_and_totals(lived_gateway: MemoryStore) -> None:
    result = run_timeline(lived_gateway, "edge", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["gateway"]["name"] == "edge" and report["gateway"]["phase"] == "Stopped"
    assert [e["version"] for e in report["events"]] == sorted(
        e["version"] for e in report["events"]
    )
    assert report["events"][1]["payload"]["phase"] == "Starting"
    assert [span["phase"] for span in report["phases"]] == [
        "Created",
        "Starting",
        "Started",
        "Stopping",
        "Stopped",
    ]
    assert report["phases"][-1]["left_at"] is None
    assert report["time_per_phase"]["Started"] == 61.0


def test_timeline_shows_only_what_retention_kept(lived_gateway: MemoryStore) -> None:
    lived_gateway.collection(OUTBOX).delete_many({"version": {"$lt": 3}})

    report = json.loads(run_timeline(lived_gateway, "edge", "--json").output)

    assert report["events"][0]["type"] == "GatewayStarted"
    assert report["phases"][0]["phase"] == "Started"


def test_timeline_of_an_unknown_gateway_exits_5(
    nx_server: NxServer, nx_store: MongoStore, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        ["--env-file", empty_env_file(tmp_path), "gateway", "timeline", "nope"],
        env={"OUTBOX_MONGODB_URI": nx_server.uri, "OUTBOX_DATABASE": nx_store.database.name},
    )

    assert result.exit_code == 5
    assert result.stderr == "error: no gateway 'nope'\n"


def test_timeline_shows_a_document_that_is_no_event_with_its_id_and_reason(
    lived_gateway: MemoryStore,
) -> None:
    outbox = lived_gateway.collection(OUTBOX)
    v2 = outbox.find_one({"version": 2})
    assert v2 is not None
    outbox.update_one({"_id": v2["_id"]}, {"$set": {"type": "Renamed"}})

    human = run_timeline(lived_gateway, "edge")
    as_json = run_timeline(lived_gateway, "edge", "--json")

    assert human.exit_code == 0, human.output
    row = next(line for line in human.stdout.splitlines() if line.startswith("2 "))
    assert f"UNREADABLE {v2['_id']}" in row and "unknown type 'Renamed'" in row
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["unreadable"] == [
        {
            "id": v2["_id"],
            "version": 2,
            "reason": "unreadable outbox document: unknown type 'Renamed'",
        }
    ]
    assert 2 not in [event["version"] for event in report["events"]]
    assert report["phases"][0]["phase"] == "Created", "the spans come from the other events"
