"""Entry point of the `outbox` console command: every command group, registered in one place."""

from __future__ import annotations

import click

from outbox.settings import CommonSettings
from outbox_cli.app import App, cli, pass_app
from outbox_cli.demo_cmd import demo
from outbox_cli.dlq_cmd import dlq
from outbox_cli.gateway_cmd import gateway
from outbox_cli.provisioner_cmd import provisioner
from outbox_cli.relay_cmd import relay
from outbox_cli.status_cmd import status

for command in (gateway, relay, provisioner, status, dlq, demo):
    cli.add_command(command)


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create the MongoDB indexes (safe to run again; applies a retention change)."""
    settings = app.settings(CommonSettings)
    store = app.store()
    created = store.ensure_indexes(retention_seconds=settings.retention)
    click.echo(f"indexes ready in {store.description}: {len(created)}")
    for name in created:
        click.echo(f"  {name}")


def main() -> None:
    cli(prog_name="outbox")


if __name__ == "__main__":
    main()
