"""`outbox relay run [--once]`: the relay daemon, outbox → Redis stream."""

from __future__ import annotations

import click

from outbox.domain.clock import utcnow
from outbox.domain.errors import NotFound
from outbox.runtime.health import serving
from outbox.runtime.settings import setting_help
from outbox_cli.app import App, pass_app
from outbox_cli.common import open_stream
from outbox_cli.output import Output, output_options
from outbox_cli.signals import stop_on_signals, stop_within_grace
from relay import unparking
from relay.factory import build_relay, stream_config
from relay.outbox_reader import OutboxReader
from relay.settings import RelaySettings


@click.group()
def relay() -> None:
    """The relay daemon: publishes committed outbox events to the Redis stream."""


@relay.command()
@click.option(
    "--once",
    is_flag=True,
    help="Take the lease (waiting up to the lease time), publish everything, release, exit. "
    "Exit code 4 if another relay kept the lease.",
)
@click.option(
    "--batch-size",
    type=int,
    help=setting_help(RelaySettings, "batch_size", "Events per batch"),
)
@click.option(
    "--metrics-port",
    type=int,
    help=setting_help(
        RelaySettings, "metrics_port", "Port of /metrics, /healthz, /readyz; 0: none"
    ),
)
@output_options
@pass_app
def run(
    app: App, once: bool, batch_size: int | None, metrics_port: int | None, out: Output
) -> None:
    """Publish outbox events to the stream, once each, in order per gateway."""
    # Validated with the settings, with the limits of their variables.
    given = {"metrics_port": metrics_port, "batch_size": batch_size}
    app.overrides.update({key: value for key, value in given.items() if value is not None})
    settings = app.settings(RelaySettings)
    store = app.store()
    daemon = build_relay(settings, store=store, stream=open_stream(settings))
    stop_on_signals(lambda: stop_within_grace("relay", daemon.stop, settings.grace_seconds))
    if once:
        totals = daemon.drain(lease_wait=settings.lease_seconds)
        out.emit(
            {
                "published": totals.published,
                "duplicates": totals.duplicates,
                "parked": totals.parked,
            },
            human=lambda: (
                f"published {totals.published} events ({totals.duplicates} already in "
                f"the stream, {totals.parked} parked)"
            ),
        )
        return
    with serving(
        port=settings.metrics_port,
        registry=daemon.metrics.registry,
        checks={"mongodb": store.ping, "redis": daemon.publisher_ping},
        alive=daemon.alive,
    ):
        daemon.run()


@relay.command()
@click.argument("event_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every parked event.")
@click.option(
    "--out-of-order",
    is_flag=True,
    help="Publish events at or below their gateway's high-water mark again now, as new "
    "entries marked redelivered (without it they are refused, exit 3).",
)
@output_options
@pass_app
def unpark(
    app: App, event_ids: tuple[str, ...], everything: bool, out_of_order: bool, out: Output
) -> None:
    """Release parked events (after fixing why Redis rejected them, or why they could not be
    read): they are tried again, in order. An ObjectId _id is given by its 24 hex digits."""
    if bool(event_ids) == everything:
        raise click.UsageError("give EVENT_ID... or --all")
    reader = OutboxReader(app.store())
    parked = reader.parked()
    unknown = sorted(set(event_ids) - {read.id for read in parked})
    if unknown:
        raise NotFound(f"not parked: {', '.join(unknown)} (outbox status lists parked events)")
    chosen = [read for read in parked if everything or read.id in event_ids]
    settings = app.settings(RelaySettings)
    stream = app.stream(settings).with_config(stream_config(settings))
    result = unparking.unpark(reader, stream, chosen, out_of_order=out_of_order, now=utcnow())
    lines = [
        f"redelivered {event_id} out of order as stream entry {entry_id}"
        for event_id, entry_id in result.redelivered
    ]
    lines.append(
        f"released {result.released} parked event(s); the relay retries them within its stats "
        "interval"
    )
    out.emit(
        {
            "released": result.released,
            "redelivered": [{"event_id": e, "entry_id": s} for e, s in result.redelivered],
        },
        human=lambda: "\n".join(lines),
        names=lambda: [read.id for read in chosen],
    )
