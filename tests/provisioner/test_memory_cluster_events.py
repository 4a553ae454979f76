"""The in-memory cluster's events: a rollout that completes on the injected clock is a change a
watch hears, like the Deployment controller's status update on a real cluster."""

from __future__ import annotations

from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import BOOKMARK, MODIFIED
from provisioner.manifests import desired_objects
from provisioner.rollout import rollout_status
from tests.support.clock import FakeClock
from tests.support.gateways import make_gateway


def deployment() -> dict[str, object]:
    objects = desired_objects(make_gateway("edge"), namespace="gateways", start_timeout_seconds=60)
    return next(m for m in objects if m["kind"] == "Deployment")


def test_a_completed_rollout_is_a_modified_event_when_the_clock_reaches_it() -> None:
    clock = FakeClock()
    cluster = MemoryCluster(rollout_seconds=5, clock=clock)
    version = cluster.list("Deployment").resource_version
    cluster.apply(deployment())
    applied = cluster.list("Deployment").resource_version

    clock.advance(5)
    events = [
        event
        for event in cluster.watch("Deployment", applied, timeout_seconds=0.2)
        if event.type != BOOKMARK
    ]

    assert [event.type for event in events] == [MODIFIED]
    assert rollout_status(events[0].object).complete
    assert int(events[0].resource_version) > int(applied) > int(version)


def test_no_event_before_the_rollout_is_due() -> None:
    clock = FakeClock()
    cluster = MemoryCluster(rollout_seconds=5, clock=clock)
    cluster.apply(deployment())
    applied = cluster.list("Deployment").resource_version

    clock.advance(4)
    events = cluster.watch("Deployment", applied, timeout_seconds=0.2)

    assert [event.type for event in events if event.type != BOOKMARK] == []
