"""`outbox demo`: the whole pipeline on embedded parts, one gateway through every phase.

Embedded means: the in-memory store with transactions, a private redis-server (or the in-memory
stream when there is none), the in-memory cluster with a short rollout. The relay and the
provisioner are the real daemons, each on its own thread, as they would run in their own processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import click

from outbox.domain.model import EnvironmentState, Gateway, Phase, State
from outbox.runtime.logs import configure_logging
from outbox.store.memory.store import MemoryStore
from outbox.store.repository import UnitOfWork
from outbox.writer import Writer
from outbox_cli.common import table
from outbox_cli.embedded import EmbeddedStream
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.port import KINDS, Cluster
from provisioner.factory import build_provisioner
from provisioner.manifests import object_names
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings

log = logging.getLogger(__name__)

# An image that runs as non-root and listens on 8080: what a restricted namespace admits.
EDGE_SPEC = {
    "image": "nginxinc/nginx-unprivileged:1.27",
    "host": "edge.demo.local",
    "environments": ["dev", "prod"],
}
EDGE_UPDATE = "nginxinc/nginx-unprivileged:1.28"


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


@dataclass(frozen=True)
class Pipeline:
    """The embedded parts the scenario acts on, with the daemons already running."""

    store: MemoryStore
    cluster: MemoryCluster
    watcher: Watcher


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
    with running_pipeline(rollout=rollout, start_timeout=start_timeout) as pipeline:
        writer = Writer(pipeline.store)
        scenario = Scenario(writer, pipeline.cluster, pipeline.watcher, time.monotonic() + timeout)
        try:
            expectations = scenario.run()
            pipeline.watcher.look()
        except TimeoutError as error:
            click.echo(f"error: {error}", err=True)
            expectations = []
    ok = _summary(writer, expectations, pipeline.watcher.began)
    raise SystemExit(0 if ok else 1)


@contextmanager
def running_pipeline(*, rollout: float, start_timeout: float) -> Iterator[Pipeline]:
    """Relay, provisioner and watcher on their threads; everything stops and is gone on exit."""
    with ExitStack() as stack:
        embedded = EmbeddedStream()
        stream = embedded.start()
        stack.callback(embedded.stop)
        store = MemoryStore()
        cluster = MemoryCluster(namespace="gateways", rollout_seconds=rollout)
        _introduce(store, embedded, rollout=rollout, start_timeout=start_timeout)
        relay = build_relay(_relay_settings(), store=store, stream=stream)
        provisioner = build_provisioner(
            _provisioner_settings(start_timeout),
            store=store,
            stream=stream,
            cluster=cluster,
        )
        watcher = Watcher(store, cluster)
        stops = [watcher.stop.set, relay.stop, provisioner.stop]  # called in this order
        threads = [
            threading.Thread(target=relay.run, name="relay", daemon=True),
            threading.Thread(target=provisioner.run, name="provisioner", daemon=True),
            threading.Thread(target=watcher.run, name="watcher", daemon=True),
        ]
        for thread in threads:
            thread.start()
        stack.callback(_stop, stops, threads)
        yield Pipeline(store, cluster, watcher)


def _introduce(
    store: MemoryStore, embedded: EmbeddedStream, *, rollout: float, start_timeout: float
) -> None:
    click.echo("gateway-outbox demo")
    click.echo(f"  store:   {store.description}")
    click.echo(f"  stream:  {embedded.description}")
    click.echo(f"  cluster: in-memory, rollouts take {rollout}s, start timeout {start_timeout}s")


def _relay_settings() -> RelaySettings:
    return RelaySettings(_env_file=None, metrics_port=0, relay_id="demo-relay", lease_seconds=5)


def _provisioner_settings(start_timeout: float) -> ProvisionerSettings:
    # Short intervals and back-off, so that a whole life fits in a few seconds.
    return ProvisionerSettings(
        _env_file=None,
        consumer="demo",
        workers=4,
        start_timeout=start_timeout,
        sweep_interval=0.1,
        resync_interval=2,
        metrics_port=0,
        backoff_base=0.2,
        backoff_cap=1,
    )


def _stop(stops: list[Callable[[], None]], threads: list[threading.Thread]) -> None:
    for stop in stops:
        stop()
    for thread in threads:
        thread.join(10)


def started(gateway: Gateway) -> bool:
    return gateway.phase == Phase.STARTED and gateway.at_rest


@dataclass
class Scenario:
    """Two gateways through their lives: edge through every phase, doomed into a start timeout."""

    writer: Writer
    cluster: MemoryCluster
    watcher: Watcher
    deadline: float  # time.monotonic() by which the scenario must be done

    def run(self) -> list[Expectation]:
        writer = self.writer
        self.say(
            "\n> create edge (a host, two environments) and doomed (its rollout never completes)"
        )
        self.cluster.stall_rollouts("doomed")
        writer.create("edge", EDGE_SPEC)
        writer.create("doomed", {"image": "registry.demo.local/never-ready:1"})
        self.wait("edge", "Started", started)
        self.say("> stop edge")
        writer.stop("edge")
        self.wait("edge", "Stopped", lambda g: g.phase == Phase.STOPPED)
        self.say("> start edge")
        writer.start("edge")
        self.wait("edge", "Started", started)
        self.say("> restart edge (one rolling restart)")
        writer.restart("edge")
        self.wait(
            "edge", "Started after the restart", lambda g: started(g) and g.state == State.RUNNING
        )
        self.say(f"> update edge: image {EDGE_UPDATE}, 2 replicas, no host (its Ingress goes)")
        writer.update("edge", image=EDGE_UPDATE, replicas=2, host=None)
        self.wait("edge", "Started with the new spec", started)
        self.say("> delete edge")
        writer.delete("edge")
        self.wait("edge", "Deleted", lambda g: g.phase == Phase.DELETED)
        self.wait("doomed", "Stopped after its start timed out", lambda g: g.phase == Phase.STOPPED)
        return [
            Expectation("edge", State.DELETED, Phase.DELETED),
            Expectation("doomed", State.STOPPED, Phase.STOPPED, last_error="StartTimeout"),
        ]

    def say(self, line: str) -> None:
        self.watcher.look()  # what happened so far comes before the next action
        click.echo(line)

    def wait(self, name: str, what: str, condition: Callable[[Gateway], bool]) -> Gateway:
        while time.monotonic() < self.deadline:
            gateway = self.writer.get(name)
            if condition(gateway):
                return gateway
            time.sleep(0.02)
        raise TimeoutError(f"{name} did not reach {what} in time")


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
