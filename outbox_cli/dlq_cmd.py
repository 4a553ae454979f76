"""`outbox dlq …`: look at the dead-letter streams, replay entries onto their stream, drop them.

Each partition has its own dead-letter stream (`{events:gateway:3}:dlq`, in its stream's slot);
the commands work across all of them and the one stream of earlier releases. A dead letter of
partition 3 is named `3/<record id>`; one of the one stream by its record id alone.
A replayed entry is handled like any other (level-triggered: it only says "look at gateway X").
It is the one exception to the stream's once-only and per-gateway order guarantees.
"""

from __future__ import annotations

from dataclasses import replace

import click

from outbox.partitions_record import read_record
from outbox.stream import DeadLetter, EventStream
from outbox.stream.keys import partition_stream
from outbox_cli.app import App, pass_app
from outbox_cli.common import dead_letter_json, open_group_stream, print_json, table
from provisioner.settings import ProvisionerSettings


def _dead_letters(app: App) -> EventStream:
    return open_group_stream(app.settings(ProvisionerSettings))


def _all_dead_letters(app: App) -> dict[str, EventStream]:
    """Each dead-letter stream by the prefix of its letters' names: "" for the one stream of
    earlier releases, "N/" for partition N (P as recorded in MongoDB)."""
    group = _dead_letters(app)
    record = read_record(app.store())
    views = {"": group}
    for n in range(record.count if record else 0):
        name = partition_stream(group.config.stream, n)
        views[f"{n}/"] = group.with_config(replace(group.config, stream=name, dead_letters=""))
    return views


def _locate(app: App, name: str) -> tuple[EventStream, str]:
    """The dead-letter stream of letter `name`, and its record id there."""
    prefix, slash, record_id = name.rpartition("/")
    group = _dead_letters(app)
    if not slash:
        return group, name
    if not prefix.isdigit():
        raise click.UsageError(f"{name!r}: a dead letter of a partition is named N/<record id>")
    stream = partition_stream(group.config.stream, int(prefix))
    return group.with_config(replace(group.config, stream=stream, dead_letters="")), record_id


def _newest(views: dict[str, EventStream], limit: int) -> list[DeadLetter]:
    """The newest `limit` letters across the streams, named with their prefix (record ids are
    times, so they sort across streams)."""
    letters = [
        replace(letter, id=prefix + letter.id)
        for prefix, view in views.items()
        for letter in view.latest_dead_letters(limit)
    ]
    return sorted(letters, key=lambda letter: _sort_key(letter.id), reverse=True)[:limit]


def _sort_key(name: str) -> tuple[int, int]:
    milliseconds, _, sequence = name.rpartition("/")[2].partition("-")
    return int(milliseconds or 0), int(sequence or 0)


@click.group()
def dlq() -> None:
    """The dead-letter stream: entries the provisioner could not handle at all."""


@dlq.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def list_dead_letters(app: App, limit: int, as_json: bool) -> None:
    """Dead letters of every partition, newest first, with why each one is there."""
    views = _all_dead_letters(app)
    latest = _newest(views, limit)
    if as_json:
        print_json([dead_letter_json(letter) for letter in latest])
        return
    total = sum(view.dead_letter_count() for view in views.values())
    where = views[""].config.dead_letters + (
        f" and {len(views) - 1} partition(s)" if len(views) > 1 else ""
    )
    click.echo(
        f"{total} dead letter(s) in {where}"
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
    """Put dead letter ID (or --all, of every partition) back on its stream and remove it from
    the DLQ."""
    if (record_id is None) == (not replay_all):
        raise click.UsageError("give one dead-letter ID or --all")
    if record_id is not None:
        letters, inner_id = _locate(app, record_id)
        new_id = letters.replay(inner_id)
        click.echo(f"replayed {record_id} onto {letters.config.stream} as {new_id}")
        return
    replayed = skipped = 0
    for prefix, letters in _all_dead_letters(app).items():
        report = letters.replay_all()
        for old_id, new_id in report.replayed:
            click.echo(f"replayed {prefix}{old_id} onto {letters.config.stream} as {new_id}")
        for old_id, why in report.skipped:
            click.echo(f"skipped {prefix}{old_id}: {why}", err=True)
        replayed, skipped = replayed + len(report.replayed), skipped + len(report.skipped)
    click.echo(f"{replayed} replayed, {skipped} skipped")


@dlq.command()
@click.argument("record_id", metavar="ID")
@pass_app
def drop(app: App, record_id: str) -> None:
    """Delete dead letter ID for good."""
    letters, inner_id = _locate(app, record_id)
    letters.drop(inner_id)
    click.echo(f"dropped {record_id} from {letters.config.dead_letters}")
