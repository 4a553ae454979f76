"""`outbox demo`: the whole pipeline on embedded parts, one gateway through every phase.

Embedded means: the in-memory store with transactions, a private redis-server (or the in-memory
stream), the in-memory cluster with a short rollout. The relay and the provisioner are the real
daemons, each on its own thread, as they would run in their own processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import click

from outbox.logs import configure_logging
from outbox.memory_store import MemoryStore
from outbox.model import EnvironmentState, Gateway, Phase, State
from outbox.repository import UnitOfWork
from outbox.writer import Writer
from outbox_cli.embedded import EmbeddedStream
from outbox_cli.gateway_cmd import table
from provisioner.cluster import KINDS, Cluster
from provisioner.factory import build_provisioner
from provisioner.manifests import object_names
from provisioner.memory_cluster import MemoryCluster
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings

log = logging.getLogger(__name__)


@dataclass
class Expectation:
    name: str
    state: State
    phase: Phase
    last_error: str | None = None


@dataclass
class Watcher:
    """Prints a line for every event the gateways record: each phase change shows up once."""

    store: MemoryStore
    cluster: Cluster
    began: float = field(default_factory=time.monotonic)
    printed: dict[str, int] = field(default_factory=dict)  # gateway id -> last version shown
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.look()

    def look(self) -> None:
        with self.lock:  # the scenario looks too, before each action
            self._print_new_events()

    def _print_new_events(self) -> None:
        uow = UnitOfWork(self.store)
        for gateway in uow.gateways.list():
            seen = self.printed.get(gateway.id, 0)
            fresh = [event for event in uow.events.of(gateway.id) if event.version > seen]
            if not fresh:
                continue
            self.printed[gateway.id] = fresh[-1].version
            envs = uow.environments.of(gateway.id)
            active = sum(1 for env in envs if env.state == EnvironmentState.ACTIVE)
            for event in fresh:
                phase = event.payload.get("phase", "")
                where = (
                    f"-> {phase}"
                    if phase
                    else f"(state {event.payload.get('state', gateway.state)})"
                )
                click.echo(
                    f"  {time.monotonic() - self.began:6.2f}s  {gateway.name:<7} "
                    f"{event.type.value:<24} {where}"
                )
            details = [
                f"now {gateway.state}/{gateway.phase}",
                f"objects: {self.objects(gateway) or 'none'}",
                f"environments active {active}/{len(envs)}",
            ]
            if gateway.last_error is not None:
                details.append(f"last error {gateway.last_error.reason}")
            click.echo(f"  {'':7}  {'':7} {'; '.join(details)}")

    def objects(self, gateway: Gateway) -> str:
        names = object_names(gateway.name)
        return ", ".join(kind for kind in KINDS if self.cluster.get(kind, names[kind]) is not None)


@click.command()
@click.option(
    "--rollout", default=0.6, show_default=True, help="Seconds a rollout takes in the demo cluster."
)
@click.option(
    "--start-timeout",
    default=3.0,
    show_default=True,
    help="The (shortened) start timeout, seconds.",
)
@click.option("--timeout", default=60.0, show_default=True, help="Give up after this many seconds.")
def demo(rollout: float, start_timeout: float, timeout: float) -> None:
    """Run relay and provisioner on embedded parts and walk gateways through their phases."""
    configure_logging(json_format=False)
    logging.getLogger().setLevel(logging.WARNING)  # the demo's own lines tell the story
    embedded = EmbeddedStream()
    stream = embedded.start()
    store = MemoryStore()
    cluster = MemoryCluster(namespace="gateways", rollout_seconds=rollout)
    click.echo("gateway-outbox demo")
    click.echo(f"  store:   {store.description}")
    click.echo(f"  stream:  {embedded.description}")
    click.echo(f"  cluster: in-memory, rollouts take {rollout}s, start timeout {start_timeout}s")
    relay = build_relay(
        RelaySettings(_env_file=None, metrics_port=0, relay_id="demo-relay", lease_seconds=5),
        store=store,
        stream=stream,
    )
    provisioner = build_provisioner(
        ProvisionerSettings(
            _env_file=None,
            consumer="demo",
            workers=4,
            start_timeout=start_timeout,
            sweep_interval=0.1,
            drift_interval=2,
            metrics_port=0,
            backoff_base=0.2,
            backoff_cap=1,
        ),
        store=store,
        stream=stream,
        cluster=cluster,
    )
    watcher = Watcher(store, cluster)
    threads = [
        threading.Thread(target=relay.run, name="relay", daemon=True),
        threading.Thread(target=provisioner.run, name="provisioner", daemon=True),
        threading.Thread(target=watcher.run, name="watcher", daemon=True),
    ]
    for thread in threads:
        thread.start()
    writer = Writer(store)
    try:
        expectations = _scenario(writer, cluster, watcher, deadline=time.monotonic() + timeout)
        watcher.look()
    except TimeoutError as error:
        click.echo(f"error: {error}", err=True)
        expectations = []
    finally:
        watcher.stop.set()
        relay.stop()
        provisioner.stop()
        for thread in threads:
            thread.join(10)
        embedded.stop()
    ok = _summary(writer, expectations, watcher.began)
    raise SystemExit(0 if ok else 1)


def _scenario(
    writer: Writer, cluster: MemoryCluster, watcher: Watcher, *, deadline: float
) -> list[Expectation]:
    def say(line: str) -> None:
        watcher.look()  # what happened so far comes before the next action
        click.echo(line)

    def wait(name: str, what: str, condition: Callable[[Gateway], bool]) -> Gateway:
        while time.monotonic() < deadline:
            gateway = writer.get(name)
            if condition(gateway):
                return gateway
            time.sleep(0.02)
        raise TimeoutError(f"{name} did not reach {what} in time")

    def started(gateway: Gateway) -> bool:
        return gateway.phase == Phase.STARTED and gateway.at_rest

    say("\n> create edge (a host, two environments) and doomed (its rollout never completes)")
    cluster.stall_rollouts("doomed")
    writer.create(
        "edge", {"image": "nginx:1.27", "host": "edge.demo.local", "environments": ["dev", "prod"]}
    )
    writer.create("doomed", {"image": "registry.demo.local/never-ready:1"})
    wait("edge", "Started", started)
    say("> stop edge")
    writer.stop("edge")
    wait("edge", "Stopped", lambda g: g.phase == Phase.STOPPED)
    say("> start edge")
    writer.start("edge")
    wait("edge", "Started", started)
    say("> restart edge (one rolling restart)")
    writer.restart("edge")
    wait("edge", "Started after the restart", lambda g: started(g) and g.state == State.RUNNING)
    say("> update edge: image nginx:1.28, 2 replicas, no host (its Ingress goes)")
    writer.update("edge", image="nginx:1.28", replicas=2, host=None)
    wait("edge", "Started with the new spec", started)
    say("> delete edge")
    writer.delete("edge")
    wait("edge", "Deleted", lambda g: g.phase == Phase.DELETED)
    wait("doomed", "Stopped after its start timed out", lambda g: g.phase == Phase.STOPPED)
    return [
        Expectation("edge", State.DELETED, Phase.DELETED),
        Expectation("doomed", State.STOPPED, Phase.STOPPED, last_error="StartTimeout"),
    ]


def _summary(writer: Writer, expectations: list[Expectation], began: float) -> bool:
    rows, ok = [], bool(expectations)
    for expected in expectations:
        gateway = writer.get(expected.name)
        error = gateway.last_error.reason if gateway.last_error else "-"
        good = (
            gateway.state == expected.state
            and gateway.phase == expected.phase
            and (expected.last_error or "-") == error
        )
        ok = ok and good
        rows.append(
            (
                gateway.name,
                f"{gateway.state}/{gateway.phase}",
                f"{expected.state}/{expected.phase}",
                error,
                str(len(writer.events(gateway.id))),
                "ok" if good else "FAIL",
            )
        )
    click.echo(f"\nsummary after {time.monotonic() - began:.1f}s")
    click.echo(table(("GATEWAY", "FINAL", "EXPECTED", "LAST ERROR", "EVENTS", "RESULT"), rows))
    click.echo("demo passed" if ok else "demo FAILED")
    return ok
