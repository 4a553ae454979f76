"""`outbox dlq …`: look at the dead-letter stream, replay entries onto the main stream, drop them.

A replayed entry is handled like any other (level-triggered: it only says "look at gateway X").
It is the one exception to the stream's once-only and per-gateway order guarantees.
"""

from __future__ import annotations

import click

from outbox.clock import utcnow
from outbox.errors import NotFound
from outbox.stream import DeadLetter, EventStream
from outbox_cli.app import App, pass_app
from outbox_cli.common import dead_letter_json, letter_time, open_group_stream
from outbox_cli.output import Output, age, output_options
from provisioner.settings import ProvisionerSettings


def _dead_letters(app: App) -> EventStream:
    return open_group_stream(app.settings(ProvisionerSettings))


def _age(letter: DeadLetter) -> str:
    at = letter_time(letter)
    return "-" if at is None else age(at, utcnow())


def _record_id(letters: EventStream, given: str) -> str:
    """The dead letter's own id. The id of the entry it came from, which the provisioner's log
    names when it dead-letters one, is taken too: one id works everywhere."""
    try:
        letters.get_dead_letter(given)
        return given
    except NotFound:
        total = letters.dead_letter_count()
        for letter in letters.latest_dead_letters(total) if total else []:
            if letter.entry_id == given:
                return letter.id
        raise


@click.group()
def dlq() -> None:
    """The dead-letter stream: entries the provisioner could not handle at all."""


@dlq.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@output_options
@pass_app
def list_dead_letters(app: App, limit: int, out: Output) -> None:
    """Dead letters, newest first, with why each one is there."""
    letters = _dead_letters(app)
    latest = letters.latest_dead_letters(limit)
    if out.format not in {"table", "wide"}:
        out.emit(
            [dead_letter_json(letter) for letter in latest],
            human=str,
            names=lambda: [letter.id for letter in latest],
        )
        return
    total = letters.dead_letter_count()
    if out.headers:
        click.echo(
            f"{total} dead letter(s) in {letters.config.dead_letters}"
            + (f", newest {len(latest)} shown" if total > len(latest) else "")
        )
    if latest:
        rows: list[tuple[str, ...]] = [
            (
                letter.id,
                letter.entry_id or "-",
                letter.fields.get("type", "-"),
                letter.fields.get("aggregate_id", "-"),
                str(letter.deliveries),
                _age(letter),
                letter.reason,
            )
            for letter in latest
        ]
        click.echo(
            out.table(("ID", "ENTRY", "TYPE", "GATEWAY", "DELIVERIES", "AGE", "REASON"), rows)
        )


@dlq.command()
@click.argument("record_id", metavar="ID", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter, oldest first.")
@output_options
@pass_app
def replay(app: App, record_id: str | None, replay_all: bool, out: Output) -> None:
    """Put dead letter ID (or --all) back on the main stream and remove it from the DLQ."""
    if (record_id is None) == (not replay_all):
        raise click.UsageError("give one dead-letter ID or --all")
    letters = _dead_letters(app)
    if record_id is not None:
        replayed, skipped = [(record_id, letters.replay(_record_id(letters, record_id)))], []
    else:
        report = letters.replay_all()
        replayed, skipped = list(report.replayed), list(report.skipped)
    stream = letters.config.stream
    lines = [f"replayed {old} onto {stream} as {new}" for old, new in replayed]
    if record_id is None:
        lines.append(f"{len(replayed)} replayed, {len(skipped)} skipped")
    out.emit(
        {
            "stream": stream,
            "replayed": [{"id": old, "new_entry_id": new} for old, new in replayed],
            "skipped": [{"id": old, "reason": why} for old, why in skipped],
        },
        human=lambda: "\n".join(lines),
        names=lambda: [new for _, new in replayed],
    )
    for old_id, why in skipped:
        click.echo(f"skipped {old_id}: {why}", err=True)


@dlq.command()
@click.argument("record_id", metavar="ID")
@output_options
@pass_app
def drop(app: App, record_id: str, out: Output) -> None:
    """Delete dead letter ID (as `dlq list` and the provisioner's log name it) for good."""
    letters = _dead_letters(app)
    letters.drop(_record_id(letters, record_id))
    out.emit(
        {"dropped": record_id, "stream": letters.config.dead_letters},
        human=lambda: f"dropped {record_id} from {letters.config.dead_letters}",
        names=lambda: [record_id],
    )
