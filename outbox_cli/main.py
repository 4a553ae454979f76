"""Entry point of the `outbox` console command: registers every command group."""

from __future__ import annotations

import click

from outbox.settings import CommonSettings
from outbox_cli.app import App, cli, pass_app
from outbox_cli.gateway_cmd import gateway

cli.add_command(gateway)


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


def _register_optional() -> None:
    """Groups that live beside this one; each registers itself when present."""
    import importlib

    for module, name in (
        ("outbox_cli.relay_cmd", "relay"),
        ("outbox_cli.provisioner_cmd", "provisioner"),
        ("outbox_cli.status_cmd", "status"),
        ("outbox_cli.dlq_cmd", "dlq"),
        ("outbox_cli.demo_cmd", "demo"),
    ):
        try:
            command = getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            continue
        cli.add_command(command)


_register_optional()


def main() -> None:
    cli(prog_name="outbox")


if __name__ == "__main__":
    main()
