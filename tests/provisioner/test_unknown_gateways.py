"""Stream entries for gateways that do not exist are dead-lettered, logged and counted, never
acked into nothing; a run of them points at the wrong database. The dead-letter stream is
bounded, and the provisioner's counters start at 0 for every known label value."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import Phase
from provisioner.consumer import UNKNOWN_STREAK
from provisioner.metrics import ProvisionerMetrics
from tests.support.clock import FakeClock
from tests.support.world import STREAM, World

DLQ = f"{STREAM}:dlq"


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=2)
    yield world
    world.close()


def publish_for(world: World, gateway_id: str) -> tuple[str, str]:
    """An entry exactly as the relay writes one, for `gateway_id`; returns (entry id, event id)."""
    event = OutboxEvent.for_gateway(gateway_id, EventType.CREATED, version=1, at=world.clock())
    return str(world.add_entry(event.stream_fields())), event.id


def dead_lettered(world: World, reason: str) -> float | None:
    return world.provisioner().metrics.registry.get_sample_value(
        "outbox_provisioner_dead_lettered_total", {"reason": reason}
    )


def test_an_entry_for_an_unknown_gateway_is_dead_lettered_logged_and_counted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.provisioner()
    entry_id, event_id = publish_for(world, "gw_nosuchgateway")

    with caplog.at_level(logging.WARNING, logger="provisioner.daemon"):
        world.step(sweep=False)

    [letter] = world.dead_letters()
    assert letter.reason.startswith("unknown-gateway: no gateway gw_nosuchgateway")
    assert (letter.entry_id, letter.fields["event_id"]) == (entry_id, event_id)
    assert world.pending() == 0
    assert dead_lettered(world, "unknown-gateway") == 1
    assert any(
        entry_id in line and event_id in line and "gw_nosuchgateway" in line
        for line in (record.getMessage() for record in caplog.records)
    )


def test_a_run_of_unknown_gateways_says_once_to_check_the_database(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.provisioner()
    for n in range(UNKNOWN_STREAK * 2):
        publish_for(world, f"gw_unknown{n:04d}")

    with caplog.at_level(logging.WARNING, logger="provisioner.daemon"):
        world.step(sweep=False)

    hints = [
        record.getMessage()
        for record in caplog.records
        if "consecutive unknown gateways: check OUTBOX_DATABASE" in record.getMessage()
    ]
    assert len(hints) == 1
    assert hints[0].startswith(f"{UNKNOWN_STREAK} consecutive unknown gateways")
    assert len(world.dead_letters()) == UNKNOWN_STREAK * 2


def test_a_few_unknown_gateways_among_known_ones_raise_no_database_alarm(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.provisioner()
    with caplog.at_level(logging.WARNING, logger="provisioner.daemon"):
        for n in range(UNKNOWN_STREAK * 2):
            if n % (UNKNOWN_STREAK - 1) == 0:
                world.writer.create(f"g{n}", {"image": "nginx:1.27"})
            publish_for(world, f"gw_unknown{n:04d}")
            world.step(sweep=False)

    assert "check OUTBOX_DATABASE" not in caplog.text
    assert world.gateway("g0").phase == Phase.STARTING


def test_the_dead_letter_stream_keeps_only_the_newest_dlq_maxlen_records(world: World) -> None:
    world.provisioner(dlq_maxlen=3)
    for n in range(5):
        world.add_entry({"garbage": str(n)})

    world.step("p1", sweep=False)

    assert [letter.fields["garbage"] for letter in world.dead_letters()] == ["2", "3", "4"]
    assert world.pending() == 0


def test_every_known_label_value_starts_at_zero_so_that_increase_sees_the_first() -> None:
    registry = ProvisionerMetrics().registry

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    for reason in ("unparsable", "deliveries", "unknown-gateway"):
        assert value("outbox_provisioner_dead_lettered_total", reason=reason) == 0
    for backend in ("mongodb", "redis"):
        assert value("outbox_provisioner_backend_outages_total", backend=backend) == 0
    for outcome in ("acked", "failed"):
        assert (
            value("outbox_provisioner_events_handled_total", type="GatewayCreated", outcome=outcome)
            == 0
        )
    assert value("outbox_provisioner_timeouts_total", reason="StartTimeout") == 0
    assert value("outbox_provisioner_steps_total", phase="Started") == 0
