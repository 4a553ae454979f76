"""`outbox init`: creates the store's indexes, and names the events that stand in the way."""

from __future__ import annotations

import click

from outbox.errors import DuplicateEventVersions
from outbox.settings import CommonSettings
from outbox_cli.app import App, pass_app
from outbox_cli.common import json_option, print_json, table


@click.command()
@json_option
@pass_app
def init(app: App, as_json: bool) -> None:
    """Create the MongoDB indexes (safe to run again; applies a retention change).

    Exits 3, changing nothing, while outbox events of one gateway share a version: it lists them.
    """
    settings = app.settings(CommonSettings)
    store = app.store()
    try:
        created = store.ensure_indexes(retention_seconds=settings.retention)
    except DuplicateEventVersions as error:
        _show_duplicates(error, as_json)
        raise
    if as_json:
        print_json({"store": store.description, "indexes": created})
        return
    click.echo(f"indexes ready in {store.description}: {len(created)}")
    for name in created:
        click.echo(f"  {name}")


def _show_duplicates(error: DuplicateEventVersions, as_json: bool) -> None:
    rows = [
        (str(gateway), str(version), ", ".join(ids)) for gateway, version, ids in error.duplicates
    ]
    if as_json:
        keys = ("aggregate_id", "version", "event_ids")
        print_json({"duplicates": [dict(zip(keys, row, strict=True)) for row in error.duplicates]})
    else:
        click.echo(table(("GATEWAY", "VERSION", "EVENTS"), rows))
