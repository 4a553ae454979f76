"""`outbox init`: creates the store's indexes, and names the events that stand in the way."""

from __future__ import annotations

import click

from outbox.errors import DuplicateEventVersions
from outbox.settings import CommonSettings
from outbox_cli.app import App, pass_app
from outbox_cli.output import Output, output_options


@click.command()
@output_options
@pass_app
def init(app: App, out: Output) -> None:
    """Create the MongoDB indexes (safe to run again; applies a retention change).

    Exits 3, changing nothing, while outbox events of one gateway share a version: it lists them.
    """
    settings = app.settings(CommonSettings)
    store = app.store()
    try:
        created = store.ensure_indexes(retention_seconds=settings.retention)
    except DuplicateEventVersions as error:
        _show_duplicates(error, out)
        raise
    out.emit(
        {"store": store.description, "indexes": created},
        human=lambda: "\n".join(
            [f"indexes ready in {store.description}: {len(created)}"]
            + [f"  {name}" for name in created]
        ),
        names=lambda: created,
    )


def _show_duplicates(error: DuplicateEventVersions, out: Output) -> None:
    rows = [
        (str(gateway), str(version), ", ".join(ids)) for gateway, version, ids in error.duplicates
    ]
    keys = ("aggregate_id", "version", "event_ids")
    out.emit(
        {"duplicates": [dict(zip(keys, row, strict=True)) for row in error.duplicates]},
        human=lambda: out.table(("GATEWAY", "VERSION", "EVENTS"), rows),
    )
