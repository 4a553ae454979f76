"""Failure paths: timeouts, crashes between the steps, lost and poison entries, cluster faults,
objects that are not ours. Each checks that nothing is lost and nothing is duplicated."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from outbox.domain.events import EventType as E
from outbox.domain.model import Gateway, Phase, State
from provisioner.cluster.port import ForeignObject, PermanentClusterError, TemporaryClusterError
from provisioner.manifests import desired_objects, object_names
from tests.support.clock import FakeClock
from tests.support.crashes import Crash, CrashingStore
from tests.support.world import World

T = TypeVar("T")


@pytest.fixture
def world(clock: FakeClock) -> Iterator[World]:
    world = World(clock=clock, rollout_seconds=5)
    yield world
    world.close()


def event_counts(world: World, ref: str) -> Counter[E]:
    return Counter(world.events(ref))


# -- timeouts ---------------------------------------------------------------------------------


def test_a_first_start_that_never_completes_is_degraded_to_stopped(world: World) -> None:
    world.cluster.stall_rollouts("edge")
    world.writer.create("edge", {"image": "nginx:1.27", "environments": ["prod"]})
    world.step()
    assert world.gateway("edge").phase == Phase.STARTING

    world.clock.advance(59)  # the start timeout is 60 s: not yet
    world.step()
    assert world.gateway("edge").phase == Phase.STARTING

    world.clock.advance(2)
    world.settle()
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert gateway.last_error is not None and gateway.last_error.reason == "StartTimeout"
    assert world.cluster.names() == []
    assert world.environments("edge") == {"prod": "Inactive"}
    assert world.events("edge") == [E.CREATED, E.STARTING, E.START_TIMED_OUT, E.STOPPED]

    # The user may start it again; a successful start clears the error.
    world.cluster.unstall_rollouts("edge")
    world.writer.start("edge")
    world.settle()
    assert world.gateway("edge").phase == Phase.STARTED
    assert world.gateway("edge").last_error is None


def test_a_restart_whose_rollout_never_completes_keeps_the_gateway_started(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.cluster.stall_rollouts("edge")

    world.writer.restart("edge")
    world.step()
    assert world.gateway("edge").phase == Phase.STARTING
    world.clock.advance(61)
    world.settle()

    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.RUNNING, Phase.STARTED)
    assert gateway.last_error is not None and gateway.last_error.reason == "RolloutTimeout"
    assert {kind for kind, _ in world.cluster.names()} == {"Deployment", "Service", "NetworkPolicy"}
    assert world.events("edge")[-3:] == [E.RESTART_REQUESTED, E.STARTING, E.FAILED]


def test_a_stop_that_cannot_finish_reports_once_and_keeps_trying(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.writer.stop("edge")
    world.cluster.fail_next(
        "delete", TemporaryClusterError("503 from the API server", status=503), times=12
    )
    world.settle(turns=6, tick=20)  # past the 60 s stop timeout, every delete failing

    gateway = world.gateway("edge")
    assert gateway.phase == Phase.STOPPING
    assert gateway.last_error is not None and gateway.last_error.reason == "StopTimeout"
    assert event_counts(world, "edge")[E.FAILED] == 1

    world.settle(turns=12, tick=10)  # the API server recovers: the faults run out
    assert world.gateway("edge").phase == Phase.STOPPED
    assert world.cluster.names() == []
    assert event_counts(world, "edge")[E.FAILED] == 1


# -- the start deadline: a start ends by it, whatever blocks it ------------------------------

START_TIMEOUT = 60  # the World's provisioner setting


def foreign(kind: str) -> dict[str, Any]:
    """An object of somebody else's that happens to have the gateway's object name."""
    name = object_names("edge")[kind]
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": {"team": "someone-else"}},
            "spec": {"ports": [{"port": 80}]},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": "someone-else"}},
        "spec": {
            "replicas": 7,
            "template": {"spec": {"containers": [{"name": "x", "image": "theirs:1"}]}},
        },
    }


def seconds_until(world: World, done: Callable[[Gateway], bool], *, limit: float = 200) -> float:
    """Turn by turn, one fake second apart, until `done(gateway)`: how long it took."""
    began = world.clock()
    while True:
        world.step()
        took = (world.clock() - began).total_seconds()
        if done(world.gateway("edge")):
            return took
        assert took < limit, f"still {world.gateway('edge').phase} after {took:.0f}s"
        world.clock.advance(1)


def stopped(gateway: Gateway) -> bool:
    return gateway.phase == Phase.STOPPED


def test_a_foreign_object_taking_the_name_while_starting_degrades_by_the_deadline(
    world: World,
) -> None:
    world.cluster.stall_rollouts("edge")
    world.writer.create("edge", {"image": "nginx:1.27", "environments": ["prod"]})
    world.step()
    assert world.gateway("edge").phase == Phase.STARTING
    # Somebody else's Deployment takes the name: every re-apply is refused from now on.
    world.cluster.remove("Deployment", object_names("edge")["Deployment"])
    world.cluster.put_foreign(foreign("Deployment"))

    took = seconds_until(world, stopped)

    assert START_TIMEOUT - 1 <= took <= START_TIMEOUT + 1  # counted from the create, one step
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert gateway.last_error is not None and gateway.last_error.reason == "StartTimeout"
    assert "Deployment edge-gateway is held by another owner" in gateway.last_error.message
    assert world.events("edge")[-2:] == [E.START_TIMED_OUT, E.STOPPED]
    assert world.environments("edge") == {"prod": "Inactive"}
    # Our Service is torn down; theirs is left exactly as it was.
    assert world.cluster.names() == [("Deployment", object_names("edge")["Deployment"])]
    assert (
        world.cluster.get("Deployment", object_names("edge")["Deployment"])["spec"]["replicas"] == 7
    )


@pytest.mark.parametrize(
    ("kind", "events"),
    [
        # Nothing could be applied at all: nothing to tear down, straight to Stopped.
        ("Deployment", [E.CREATED, E.FAILED, E.START_TIMED_OUT]),
        # Our Deployment went in before the foreign Service stopped the apply: torn down.
        ("Service", [E.CREATED, E.FAILED, E.START_TIMED_OUT, E.STOPPED]),
    ],
)
def test_a_created_gateway_blocked_by_a_foreign_object_ends_stopped_by_the_deadline(
    world: World, kind: str, events: list[E]
) -> None:
    world.cluster.put_foreign(foreign(kind))
    world.writer.create("edge", {"image": "nginx:1.27"})

    took = seconds_until(world, stopped)

    assert took <= START_TIMEOUT + 1
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert gateway.last_error is not None and gateway.last_error.reason == "StartTimeout"
    assert f"{kind} edge-gateway is held by another owner" in gateway.last_error.message
    assert world.events("edge") == events
    assert world.cluster.names() == [(kind, object_names("edge")[kind])]


def test_a_failing_apply_with_temporary_errors_ends_by_the_deadline_despite_the_back_off(
    world: World,
) -> None:
    # A back-off that would grow far past the deadline: the deadline must not wait for it.
    world.provisioner(backoff_cap=300)
    world.cluster.fail_next(
        "apply", TemporaryClusterError("503 from the API server", status=503), times=10_000
    )
    world.writer.create("edge", {"image": "nginx:1.27"})

    took = seconds_until(world, stopped)

    assert took <= START_TIMEOUT + 1
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.STOPPED, Phase.STOPPED)
    assert gateway.last_error is not None and gateway.last_error.reason == "StartTimeout"
    assert "ClusterUnavailable: 503 from the API server" in gateway.last_error.message
    assert world.events("edge") == [E.CREATED, E.START_TIMED_OUT]  # temporary errors: quiet


def rollout_timed_out(world: World) -> dict[str, Any] | None:
    for event in world.writer.events("edge"):
        if event.type is E.FAILED and event.payload.get("reason") == "RolloutTimeout":
            return dict(event.payload)
    return None


def test_a_later_rollout_whose_newer_spec_cannot_be_applied_ends_started(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.cluster.stall_rollouts("edge")
    world.writer.update("edge", image="nginx:1.28")
    world.step()
    assert world.gateway("edge").phase == Phase.STARTING
    world.cluster.fail_next(
        "apply", PermanentClusterError("422 Unprocessable Entity", status=422), times=10_000
    )
    world.writer.update("edge", image="nginx:1.29")  # asks again: the clock starts here

    took = seconds_until(world, lambda gateway: gateway.phase == Phase.STARTED)

    assert START_TIMEOUT - 1 <= took <= START_TIMEOUT + 1
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.RUNNING, Phase.STARTED)
    assert gateway.at_rest  # the rollout is given up; the drift check takes it from here
    report = rollout_timed_out(world)
    assert report is not None and "ClusterRejected: 422" in report["message"]
    live = world.cluster.get("Deployment", object_names("edge")["Deployment"])
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_a_restart_whose_apply_never_goes_through_ends_started_with_a_rollout_timeout(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()
    world.cluster.fail_next(
        "apply", TemporaryClusterError("503 from the API server", status=503), times=10_000
    )
    world.writer.restart("edge")

    took = seconds_until(world, lambda gateway: rollout_timed_out(world) is not None)

    assert took <= START_TIMEOUT + 1
    gateway = world.gateway("edge")
    assert (gateway.state, gateway.phase) == (State.RUNNING, Phase.STARTED)
    assert gateway.at_rest
    report = rollout_timed_out(world)
    assert report is not None and "ClusterUnavailable: 503" in report["message"]


# -- crashes between the steps ----------------------------------------------------------------


def test_a_crash_after_the_apply_and_before_the_commit_is_repeated_by_another_consumer(
    world: World,
) -> None:
    crashing = CrashingStore(world.store)
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.publish()
    dying = world.provisioner("dying")
    dying._reconciler._store = crashing  # the dying process's view of the store
    crashing.crashes = 1000  # it dies at this point every time it tries
    dying.run_once(block_ms=None)
    dying.wait_idle(5)
    # The apply happened, the commit did not, the entry is still pending.
    assert world.cluster.get("Deployment", object_names("edge")["Deployment"]) is not None
    assert world.gateway("edge").phase == Phase.CREATED
    assert world.pending() == 1

    rescuer = world.provisioner("rescuer", reclaim_idle=0.001)
    world.clock.advance(1)  # long past the reclaim idle time
    rescuer.reclaim()
    rescuer.wait_idle(5)
    assert world.pending() == 0
    assert world.gateway("edge").phase == Phase.STARTING
    world.settle("rescuer")
    assert world.gateway("edge").phase == Phase.STARTED
    assert event_counts(world, "edge") == Counter({E.CREATED: 1, E.STARTING: 1, E.STARTED: 1})
    ids = world.stream_event_ids()
    assert len(ids) == len(set(ids))


def test_a_crash_after_the_commit_and_before_the_ack_repeats_nothing(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.publish()
    dying = world.provisioner("dying")
    original_ack = dying._stream.ack

    def die(*entry_ids: str) -> None:
        raise Crash("died after the commit, before XACK")

    dying._stream.ack = die  # type: ignore[method-assign]
    dying.run_once(block_ms=None)
    dying.wait_idle(5)
    dying._stream.ack = original_ack  # type: ignore[method-assign]
    assert world.gateway("edge").phase == Phase.STARTING
    assert world.pending() == 1

    rescuer = world.provisioner("rescuer", reclaim_idle=0.001)
    world.clock.advance(1)  # long past the reclaim idle time
    rescuer.reclaim()
    rescuer.wait_idle(5)
    assert world.pending() == 0
    world.settle("rescuer")
    assert world.gateway("edge").phase == Phase.STARTED
    assert event_counts(world, "edge") == Counter({E.CREATED: 1, E.STARTING: 1, E.STARTED: 1})


# -- lost and poison entries ------------------------------------------------------------------


def test_a_lost_event_still_converges_through_the_sweeper(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.publish()
    for entry_id, _ in world.entries():
        world.delete_entries(entry_id)  # gone before any consumer saw it

    world.settle()
    assert world.gateway("edge").phase == Phase.STARTED


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {
                "event_id": "ev_x",
                "type": "GatewayCreated",
                "aggregate_type": "gateway",
                "aggregate_id": "gw_x",
                "version": "1",
                "occurred_at": "2026-01-01T00:00:00Z",
                "payload": "{oops",
            },
            "payload is not JSON",
        ),
        (
            {
                "event_id": "ev_x",
                "type": "GatewayTeleported",
                "aggregate_type": "gateway",
                "aggregate_id": "gw_x",
                "version": "1",
                "occurred_at": "2026-01-01T00:00:00Z",
                "payload": "{}",
            },
            "unknown event type",
        ),
        ({"event_id": "ev_x", "type": "GatewayCreated"}, "missing fields"),
        (
            {
                "event_id": "ev_x",
                "type": "GatewayCreated",
                "aggregate_type": "gateway",
                "aggregate_id": "gw_x",
                "version": "1",
                "occurred_at": "2026-01-01T00:00:00Z",
                "payload": json.dumps({"blob": "x" * 2_000_000}),
            },
            "bytes, more than",
        ),
    ],
)
def test_poison_entries_are_dead_lettered_with_a_reason_and_the_consumer_keeps_going(
    world: World, fields: dict[str, str], reason: str
) -> None:
    world.add_entry(fields)
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle()

    [dead] = world.dead_letters()
    assert reason in dead.reason
    assert dead.fields["event_id"] == "ev_x"  # the original fields travel with it
    assert world.pending() == 0
    assert world.gateway("edge").phase == Phase.STARTED


def test_an_entry_that_kills_its_handler_every_time_is_dead_lettered_after_max_deliveries(
    world: World,
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.publish()
    crashing = CrashingStore(world.store)
    crashing.crashes = 1000
    for attempt in range(6):
        daemon = world.provisioner(f"doomed-{attempt}", reclaim_idle=0.001, max_deliveries=5)
        daemon._reconciler._store = crashing
        if attempt == 0:
            daemon.run_once(block_ms=None)
        world.clock.advance(1)  # long past the reclaim idle time
        daemon.reclaim()
        daemon.wait_idle(5)
    dead = world.dead_letters()
    assert [letter.fields["type"] for letter in dead] == ["GatewayCreated"]
    assert "delivered 5 times without an ack" in dead[0].reason
    assert world.pending() == 0

    # Dead-lettered is delayed, not stranded: a healthy provisioner's sweep still gets there.
    world.settle()
    assert world.gateway("edge").phase == Phase.STARTED


# -- cluster faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        TemporaryClusterError("409 Conflict: the object was modified", status=409),
        TemporaryClusterError("500 Internal Server Error", status=500),
        TemporaryClusterError("connection reset by peer"),
        TemporaryClusterError("read timed out after 10s"),
    ],
    ids=["409", "500", "connection-reset", "slow-call"],
)
def test_a_temporary_cluster_fault_is_recorded_and_retried_after_a_back_off(
    world: World, error: TemporaryClusterError
) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.cluster.fail_next("apply", error)
    world.step()

    gateway = world.gateway("edge")
    assert gateway.phase == Phase.CREATED
    assert gateway.last_error is not None and gateway.last_error.reason == "ClusterUnavailable"
    assert gateway.retry is not None and gateway.retry.attempts == 1
    assert gateway.retry.next_at > world.clock()
    assert world.pending() == 0  # acked: the sweeper retries
    assert E.FAILED not in world.events("edge")  # temporary: quiet

    world.settle()
    gateway = world.gateway("edge")
    assert gateway.phase == Phase.STARTED and gateway.last_error is None and gateway.retry is None
    assert event_counts(world, "edge") == Counter({E.CREATED: 1, E.STARTING: 1, E.STARTED: 1})


def test_a_rejected_manifest_is_reported_once_and_retried_with_back_off(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.cluster.fail_next(
        "apply",
        PermanentClusterError("422 Unprocessable Entity: spec.replicas invalid", status=422),
        times=3,
    )
    world.step()
    gateway = world.gateway("edge")
    assert gateway.last_error is not None and gateway.last_error.reason == "ClusterRejected"
    assert "422" in gateway.last_error.message
    world.settle(turns=10, tick=10)

    assert world.gateway("edge").phase == Phase.STARTED
    assert event_counts(world, "edge")[E.FAILED] == 1  # one report, however many retries


def test_a_foreign_object_with_the_gateways_name_is_left_untouched_and_reported(
    world: World,
) -> None:
    name = object_names("edge")["Deployment"]
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"team": "someone-else"}},
        "spec": {
            "replicas": 7,
            "template": {"spec": {"containers": [{"name": "x", "image": "theirs:1"}]}},
        },
    }
    world.cluster.put_foreign(foreign)
    world.writer.create("edge", {"image": "nginx:1.27"})
    world.settle(turns=4)

    gateway = world.gateway("edge")
    assert gateway.phase == Phase.CREATED
    assert gateway.last_error is not None and gateway.last_error.reason == ForeignObject.__name__
    assert "without our labels" in gateway.last_error.message
    live = world.cluster.get("Deployment", name)
    assert live["spec"]["replicas"] == 7 and live["metadata"]["labels"] == {"team": "someone-else"}
    assert world.cluster.calls[f"apply Deployment {name}"] == 0
    assert event_counts(world, "edge")[E.FAILED] == 1

    # Deleting the gateway never deletes the foreign object either.
    world.writer.delete("edge")
    world.settle()
    assert world.gateway(world.writer.list()[0].id).phase == Phase.DELETED
    assert world.cluster.get("Deployment", name)["spec"]["replicas"] == 7


def test_drift_is_repaired_and_recorded(world: World) -> None:
    world.writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    world.settle()
    names = object_names("edge")
    world.cluster.delete("Ingress", names["Ingress"])
    world.cluster.tamper("Deployment", names["Deployment"], lambda d: d["spec"].update(replicas=9))

    world.provisioner().sweep(resync=True)
    world.provisioner().wait_idle(5)
    assert world.cluster.get("Ingress", names["Ingress"]) is not None
    assert world.cluster.get("Deployment", names["Deployment"])["spec"]["replicas"] == 1
    assert world.events("edge")[-1] == E.DRIFT_REPAIRED
    assert world.gateway("edge").phase == Phase.STARTED


def test_manifests_rendered_for_the_cluster_carry_our_labels(world: World) -> None:
    gateway = world.writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
    for manifest in desired_objects(gateway, namespace="gateways", start_timeout_seconds=60):
        assert manifest["metadata"]["labels"]["gateway-outbox.io/gateway-id"] == gateway.id
