"""The provisioner process of `benchmarks.watch`: `outbox provisioner run`, but on an in-memory
store seeded here (see that benchmark for why), dumped as JSON when it stops.

    python -m benchmarks.watch_provisioner [--started N] [--create N --rate R] [--dump PATH]

`--create` sends N new gateways through the pipeline once the provisioner is ready: the writer
at R a second, and the relay on a thread of its own, as an idle system sees new gateways come.
Everything else is as the command builds it from OUTBOX_* and KUBECONFIG: the real Kubernetes
adapter, Redis at OUTBOX_REDIS_URL, metrics and health on OUTBOX_METRICS_PORT.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from pathlib import Path

from outbox.runtime.health import serving
from outbox.runtime.logs import configure_logging
from outbox.runtime.settings import load
from outbox.store.memory.store import MemoryStore
from outbox.store.repository import UnitOfWork
from outbox.writer import Writer
from outbox_cli.common import open_cluster, open_stream
from outbox_cli.signals import stop_on_signals, stop_within_grace
from provisioner.daemon import Provisioner
from provisioner.factory import build_provisioner
from provisioner.settings import ProvisionerSettings
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.support import started


def seeded_store(*, started_gateways: int) -> MemoryStore:
    """Started gateways g0... (their objects are the emulator's already)."""
    store = MemoryStore()
    started.insert(store, started.gateways(started_gateways))
    return store


def create_paced(store: MemoryStore, daemon: Provisioner, count: int, rate: float) -> None:
    """Once the provisioner is ready, `count` gateways n0... through the writer, `rate` a second,
    published by a relay of their own."""
    relay = build_relay(
        load(RelaySettings, metrics_port=0, relay_id="watch-bench"),
        store=store,
        stream=open_stream(load(RelaySettings)),
    )
    threading.Thread(target=relay.run, name="relay", daemon=True).start()
    while not ready(daemon):
        time.sleep(0.05)
    writer = Writer(store)
    for n in range(count):
        writer.create(f"n{n}", {"image": "nginx:1.27"})
        time.sleep(1 / rate)


def ready(daemon: Provisioner) -> bool:
    try:
        daemon.check_cache()
    except RuntimeError:
        return False
    return True


def dump(store: MemoryStore, path: Path) -> None:
    """Every gateway's phase and when it entered it, for the benchmark to time."""
    gateways = UnitOfWork(store).gateways.list(limit=0)
    path.write_text(
        json.dumps({g.name: [str(g.phase), g.phase_changed_at.timestamp()] for g in gateways})
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watch_provisioner")
    parser.add_argument("--started", type=int, default=0, help="Started gateways in the store")
    parser.add_argument("--create", type=int, default=0, help="gateways created once ready")
    parser.add_argument("--rate", type=float, default=10.0, help="gateways created a second")
    parser.add_argument("--dump", type=Path, help="write the gateways' phases here on exit")
    options = parser.parse_args(argv)
    configure_logging(verbose=False, json_format=False)
    logging.getLogger("provisioner.reconciler").setLevel(logging.WARNING)  # a line per commit
    settings = load(ProvisionerSettings)
    store = seeded_store(started_gateways=options.started)
    daemon = build_provisioner(
        settings, store=store, stream=open_stream(settings), cluster=open_cluster(settings)
    )
    stop_on_signals(lambda: stop_within_grace("provisioner", daemon.stop, settings.grace_seconds))
    checks = {"redis": daemon.ping_redis, "cluster-cache": daemon.check_cache}
    if options.create:
        arguments = (store, daemon, options.create, options.rate)
        threading.Thread(target=create_paced, args=arguments, daemon=True).start()
    with serving(
        port=settings.metrics_port,
        registry=daemon.metrics.registry,
        checks=checks,
        alive=daemon.alive,
    ):
        daemon.run()
    if options.dump is not None:
        dump(store, options.dump)


if __name__ == "__main__":
    main()
