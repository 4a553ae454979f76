"""The provisioner process of `benchmarks.watch`: `outbox provisioner run`, but on an in-memory
store seeded here (see that benchmark for why), dumped as JSON when it stops.

    python -m benchmarks.watch_provisioner [--started N] [--created N] [--dump PATH]

Everything else is as the command builds it from OUTBOX_* and KUBECONFIG: the real Kubernetes
adapter, Redis at OUTBOX_REDIS_URL, metrics and health on OUTBOX_METRICS_PORT.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from outbox.health import serving
from outbox.logs import configure_logging
from outbox.memory_store import MemoryStore
from outbox.model import Phase
from outbox.repository import UnitOfWork
from outbox.settings import load
from outbox_cli.common import open_cluster, open_stream
from outbox_cli.signals import stop_on_signals, stop_within_grace
from provisioner.factory import build_provisioner
from provisioner.settings import ProvisionerSettings
from tests.support import started


def seeded_store(*, started_gateways: int, created: int) -> MemoryStore:
    """Started gateways g0... (their objects are the emulator's already), then Created ones
    after them (the first sweep applies them)."""
    store = MemoryStore()
    everyone = started.gateways(started_gateways)
    everyone += [
        started.gateway(n, phase=Phase.CREATED)
        for n in range(started_gateways, started_gateways + created)
    ]
    started.insert(store, everyone)
    return store


def dump(store: MemoryStore, path: Path) -> None:
    """Every gateway's phase and when it entered it, for the benchmark to time."""
    gateways = UnitOfWork(store).gateways.list(limit=0)
    path.write_text(
        json.dumps({g.name: [str(g.phase), g.phase_changed_at.timestamp()] for g in gateways})
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.watch_provisioner")
    parser.add_argument("--started", type=int, default=0, help="Started gateways in the store")
    parser.add_argument("--created", type=int, default=0, help="Created gateways after them")
    parser.add_argument("--dump", type=Path, help="write the gateways' phases here on exit")
    options = parser.parse_args(argv)
    configure_logging(verbose=False, json_format=False)
    logging.getLogger("provisioner.reconciler").setLevel(logging.WARNING)  # a line per commit
    settings = load(ProvisionerSettings)
    store = seeded_store(started_gateways=options.started, created=options.created)
    daemon = build_provisioner(
        settings, store=store, stream=open_stream(settings), cluster=open_cluster(settings)
    )
    stop_on_signals(lambda: stop_within_grace("provisioner", daemon.stop, settings.grace_seconds))
    checks = {"redis": daemon.ping_redis, "cluster-cache": daemon.check_cache}
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
