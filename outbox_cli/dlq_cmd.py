"""`outbox dlq …`: look at the dead-letter stream, replay entries onto the main stream, drop them.

A replayed entry is handled like any other (level-triggered: it only says "look at gateway X").
It is the one exception to the stream's once-only and per-gateway order guarantees.
"""

from __future__ import annotations

import click

from outbox.stream import EventStream
from outbox_cli.app import App, pass_app
from outbox_cli.common import dead_letter_json, open_group_stream, print_json, table
from provisioner.settings import ProvisionerSettings


def _dead_letters(app: App) -> EventStream:
    return open_group_stream(app.settings(ProvisionerSettings))


@click.group()
def dlq() -> None:
    """The dead-letter stream: entries the provisioner could not handle at all."""


@dlq.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def list_dead_letters(app: App, limit: int, as_json: bool) -> None:
    """Dead letters, newest first, with why each one is there."""
    letters = _dead_letters(app)
    latest = letters.latest_dead_letters(limit)
    if as_json:
        print_json([dead_letter_json(letter) for letter in latest])
        return
    total = letters.dead_letter_count()
    click.echo(
        f"{total} dead letter(s) in {letters.config.dead_letters}"
        + (f", newest {len(latest)} shown" if total > len(latest) else "")
    )
    if latest:
        rows: list[tuple[str, ...]] = [
            (
                letter.id,
                letter.fields.get("type", "-"),
                letter.fields.get("aggregate_id", "-"),
                str(letter.deliveries),
                letter.at or "-",
                letter.reason,
            )
            for letter in latest
        ]
        click.echo(table(("ID", "TYPE", "GATEWAY", "DELIVERIES", "AT", "REASON"), rows))


@dlq.command()
@click.argument("record_id", metavar="ID", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter, oldest first.")
@pass_app
def replay(app: App, record_id: str | None, replay_all: bool) -> None:
    """Put dead letter ID (or --all) back on the main stream and remove it from the DLQ."""
    if (record_id is None) == (not replay_all):
        raise click.UsageError("give one dead-letter ID or --all")
    letters = _dead_letters(app)
    if record_id is not None:
        new_id = letters.replay(record_id)
        click.echo(f"replayed {record_id} onto {letters.config.stream} as {new_id}")
        return
    report = letters.replay_all()
    for old_id, new_id in report.replayed:
        click.echo(f"replayed {old_id} onto {letters.config.stream} as {new_id}")
    for old_id, why in report.skipped:
        click.echo(f"skipped {old_id}: {why}", err=True)
    click.echo(f"{len(report.replayed)} replayed, {len(report.skipped)} skipped")


@dlq.command()
@click.argument("record_id", metavar="ID")
@pass_app
def drop(app: App, record_id: str) -> None:
    """Delete dead letter ID for good."""
    letters = _dead_letters(app)
    letters.drop(record_id)
    click.echo(f"dropped {record_id} from {letters.config.dead_letters}")
