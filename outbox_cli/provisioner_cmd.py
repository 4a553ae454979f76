"""`outbox provisioner run`: the provisioner daemon."""

from __future__ import annotations

import logging

import click

from outbox.health import serving
from outbox_cli.app import App, pass_app
from outbox_cli.common import open_cluster, open_stream
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
    type=click.Choice(["kubernetes", "memory"]),
    help="Cluster adapter (default: $OUTBOX_CLUSTER or kubernetes).",
)
@click.option("--workers", type=int, help="Worker pool size (default: $OUTBOX_WORKERS or 32).")
@click.option(
    "--metrics-port",
    type=int,
    help="Port of /metrics, /healthz, /readyz (default: $OUTBOX_METRICS_PORT or 9102; 0: none).",
)
@pass_app
def run(
    app: App, once: bool, cluster: str | None, workers: int | None, metrics_port: int | None
) -> None:
    """Consume gateway events and drive every gateway to its desired phase."""
    if metrics_port is not None:  # validated with the settings, as OUTBOX_METRICS_PORT is
        app.overrides["metrics_port"] = metrics_port
    overrides = {
        key: value for key, value in {"cluster": cluster, "workers": workers}.items() if value
    }
    settings = app.settings(ProvisionerSettings).model_copy(update=overrides)
    store = app.store()
    daemon = build_provisioner(
        settings, store=store, stream=open_stream(settings), cluster=open_cluster(settings)
    )
    stop_on_signals(lambda: stop_within_grace("provisioner", daemon.stop, settings.grace_seconds))
    if once:
        totals = daemon.drain()
        click.echo(
            f"handled: {totals.acked} acked, {totals.failed} failed, "
            f"{totals.dead_lettered} dead-lettered"
        )
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
