"""`outbox init`: creates the store's indexes, records the partition count, and names the
events that stand in the way."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from outbox.coordination.partition_count import read_record
from outbox.coordination.repartitioning import Repartition, repartition
from outbox.domain.clock import utcnow
from outbox.domain.errors import DuplicateEventVersions
from outbox.domain.partitions import MAX_PARTITIONS
from outbox.runtime.settings import CommonSettings
from outbox.stream import EventStream
from outbox.stream.keys import partition_streams
from outbox_cli.app import App, pass_app
from outbox_cli.output import Output, output_options
from provisioner.factory import stream_config
from provisioner.settings import ProvisionerSettings


@click.command()
@click.option(
    "--partitions",
    type=click.IntRange(1, MAX_PARTITIONS),
    default=None,
    help=f"Partition count P to record (1-{MAX_PARTITIONS}; default: keep the recorded one, "
    "else 8).",
)
@output_options
@pass_app
def init(app: App, partitions: int | None, out: Output) -> None:
    """Create the MongoDB indexes (safe to run again; applies a retention change) and record
    the partition count P, giving every gateway and outbox event its partition.

    Exits 3, changing nothing, while outbox events of one gateway share a version (it lists
    them), or when P would change while events are unpublished or stream entries unacked.
    """
    settings = app.settings(CommonSettings)
    store = app.store()
    try:
        created = store.ensure_indexes(retention_seconds=settings.retention)
    except DuplicateEventVersions as error:
        _show_duplicates(error, out)
        raise
    before = read_record(store)
    recorded = None if before is None else before.count
    change = repartition(store, partitions, unacked=lambda: _unacked(app, recorded), now=utcnow())
    out.emit(
        {"store": store.description, "indexes": created, **_partitions_json(change)},
        human=lambda: "\n".join(
            [f"indexes ready in {store.description}: {len(created)}"]
            + [f"  {name}" for name in created]
            + [_describe(change)]
        ),
        names=lambda: created,
    )


def _unacked(app: App, partitions: int | None) -> int:
    """Entries not yet acked by the provisioners' group, delivered or not: in the one stream of
    earlier releases and in each partition's stream."""
    settings = app.settings(ProvisionerSettings)
    stream = app.stream(settings).with_config(stream_config(settings))
    names = [settings.stream, *partition_streams(settings.stream, partitions or 0)]
    return sum(_unacked_in(stream.with_config(replace(stream.config, stream=n))) for n in names)


def _unacked_in(stream: EventStream) -> int:
    status = stream.status(latest=1)
    if status.group is None:  # no provisioner ever read: every entry is still to be handled
        return status.length
    return status.group.pending + (status.group.lag or 0)


def _describe(change: Repartition) -> str:
    moved = f"partitions given to {change.gateways} gateway(s), {change.events} event(s)"
    if not change.changed:
        return f"partitions: {change.after} (unchanged); {moved}"
    return f"partitions: {change.before or 1} -> {change.after}; {moved}"


def _partitions_json(change: Repartition) -> dict[str, Any]:
    return {
        "partitions": change.after,
        "partitions_before": change.before,
        "backfilled": {"gateways": change.gateways, "events": change.events},
    }


def _show_duplicates(error: DuplicateEventVersions, out: Output) -> None:
    rows = [
        (str(gateway), str(version), ", ".join(ids)) for gateway, version, ids in error.duplicates
    ]
    keys = ("aggregate_id", "version", "event_ids")
    out.emit(
        {"duplicates": [dict(zip(keys, row, strict=True)) for row in error.duplicates]},
        human=lambda: out.table(("GATEWAY", "VERSION", "EVENTS"), rows),
    )
