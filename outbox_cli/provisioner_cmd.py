"""`outbox provisioner run`: the provisioner daemon."""

from __future__ import annotations

import logging
from typing import Any

import click

from outbox.runtime.health import serving
from outbox.runtime.settings import setting_help
from outbox_cli.app import App, pass_app
from outbox_cli.common import open_cluster, open_stream
from outbox_cli.output import Output, output_options
from outbox_cli.signals import stop_on_signals, stop_within_grace
from provisioner.factory import build_provisioner
from provisioner.settings import ProvisionerSettings

log = logging.getLogger(__name__)


@click.group()
def provisioner() -> None:
    """The provisioner daemon: stream consumer, Kubernetes applier, sweeper."""


@provisioner.command()
@click.option("--once", is_flag=True, help="Handle what is there, sweep once, exit.")
@click.option(
    "--cluster",
    type=click.Choice(["kubernetes", "memory"], case_sensitive=False),
    help="Cluster adapter (default: $OUTBOX_CLUSTER or kubernetes).",
)
@click.option(
    "--workers", type=int, help=setting_help(ProvisionerSettings, "workers", "Worker pool size")
)
@click.option(
    "--metrics-port",
    type=int,
    help=setting_help(
        ProvisionerSettings, "metrics_port", "Port of /metrics, /healthz, /readyz; 0: none"
    ),
)
@output_options
@pass_app
def run(
    app: App,
    once: bool,
    cluster: str | None,
    workers: int | None,
    metrics_port: int | None,
    out: Output,
) -> None:
    """Consume gateway events and drive every gateway to its desired phase."""
    # Validated with the settings, with the limits of their variables (0 workers is refused).
    given = {
        "metrics_port": metrics_port,
        "cluster": cluster and cluster.lower(),
        "workers": workers,
    }
    app.overrides.update({key: value for key, value in given.items() if value is not None})
    settings = app.settings(ProvisionerSettings)
    store = app.store()
    daemon = build_provisioner(
        settings, store=store, stream=open_stream(settings), cluster=open_cluster(settings)
    )
    stop_on_signals(lambda: stop_within_grace("provisioner", daemon.stop, settings.grace_seconds))
    if once:
        _print_totals(daemon.drain(), out)
        return
    with serving(
        port=settings.metrics_port,
        registry=daemon.metrics.registry,
        checks={
            "mongodb": store.ping,
            "redis": daemon.ping_redis,
            "cluster-cache": daemon.check_cache,
        },
        alive=daemon.alive,
    ):
        daemon.run()


def _print_totals(totals: Any, out: Output) -> None:
    out.emit(
        {"acked": totals.acked, "failed": totals.failed, "dead_lettered": totals.dead_lettered},
        human=lambda: (
            f"handled: {totals.acked} acked, {totals.failed} failed, "
            f"{totals.dead_lettered} dead-lettered"
        ),
    )
