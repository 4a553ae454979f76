"""Entry point of the `outbox` console command: every command group, registered in one place."""

from __future__ import annotations

import click

from outbox.errors import DuplicateEventVersions
from outbox.settings import CommonSettings
from outbox_cli.app import App, cli, pass_app, print_json
from outbox_cli.demo_cmd import demo
from outbox_cli.dlq_cmd import dlq
from outbox_cli.gateway_cmd import gateway, table
from outbox_cli.provisioner_cmd import provisioner
from outbox_cli.relay_cmd import relay
from outbox_cli.status_cmd import status

for command in (gateway, relay, provisioner, status, dlq, demo):
    cli.add_command(command)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
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


def main() -> None:
    cli(prog_name="outbox")


if __name__ == "__main__":
    main()
