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

from outbox.coordination.partition_count import read_record
from outbox.domain.clock import utcnow
from outbox.domain.errors import NotFound
from outbox.stream import DeadLetter, EventStream
from outbox.stream.keys import partition_stream
from outbox_cli.app import App, pass_app
from outbox_cli.common import dead_letter_json, letter_time, open_group_stream
from outbox_cli.output import Output, age, output_options
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
        views[f"{n}/"] = _partition_view(group, n)
    return views


def _partition_view(group: EventStream, n: int) -> EventStream:
    stream = partition_stream(group.config.stream, n)
    return group.with_config(replace(group.config, stream=stream, dead_letters=""))


def _locate(app: App, name: str) -> tuple[EventStream, str]:
    """The dead-letter stream of letter `name`, and its record id there. `name` is the letter's
    name as `dlq list` prints it, or the id of the entry it came from, which the provisioner's
    log names: one id works everywhere."""
    prefix, slash, record_id = name.rpartition("/")
    if slash:
        if not prefix.isdigit():
            raise click.UsageError(f"{name!r}: a dead letter of a partition is named N/<record id>")
        return _partition_view(_dead_letters(app), int(prefix)), record_id
    views = _all_dead_letters(app)
    try:
        views[""].get_dead_letter(name)
        return views[""], name
    except NotFound:
        for view in views.values():
            total = view.dead_letter_count()
            for letter in view.latest_dead_letters(total) if total else []:
                if letter.entry_id == name:
                    return view, letter.id
        raise


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


def _age(letter: DeadLetter) -> str:
    at = letter_time(letter)
    return "-" if at is None else age(at, utcnow())


@click.group()
def dlq() -> None:
    """The dead-letter streams: entries the provisioner could not handle at all."""


@dlq.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@output_options
@pass_app
def list_dead_letters(app: App, limit: int, out: Output) -> None:
    """Dead letters of every partition, newest first, with why each one is there."""
    views = _all_dead_letters(app)
    latest = _newest(views, limit)
    if out.format not in {"table", "wide"}:
        out.emit(
            [dead_letter_json(letter) for letter in latest],
            human=str,
            names=lambda: [letter.id for letter in latest],
        )
        return
    total = sum(view.dead_letter_count() for view in views.values())
    where = views[""].config.dead_letters + (
        f" and {len(views) - 1} partition(s)" if len(views) > 1 else ""
    )
    if out.headers:
        click.echo(
            f"{total} dead letter(s) in {where}"
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
    """Put dead letter ID (or --all, of every partition) back on its stream and remove it from
    the DLQ."""
    if (record_id is None) == (not replay_all):
        raise click.UsageError("give one dead-letter ID or --all")
    replayed: list[tuple[str, str, str]] = []  # (letter, stream, new entry)
    skipped: list[tuple[str, str]] = []
    if record_id is not None:
        letters, inner_id = _locate(app, record_id)
        replayed.append((record_id, letters.config.stream, letters.replay(inner_id)))
    else:
        for prefix, letters in _all_dead_letters(app).items():
            report = letters.replay_all()
            stream = letters.config.stream
            replayed += [(prefix + old, stream, new) for old, new in report.replayed]
            skipped += [(prefix + old, why) for old, why in report.skipped]
    _show_replayed(out, replayed, skipped, summary=record_id is None)


def _show_replayed(
    out: Output,
    replayed: list[tuple[str, str, str]],
    skipped: list[tuple[str, str]],
    *,
    summary: bool,
) -> None:
    lines = [f"replayed {old} onto {stream} as {new}" for old, stream, new in replayed]
    if summary:
        lines.append(f"{len(replayed)} replayed, {len(skipped)} skipped")
    out.emit(
        {
            "replayed": [
                {"id": old, "stream": stream, "new_entry_id": new} for old, stream, new in replayed
            ],
            "skipped": [{"id": old, "reason": why} for old, why in skipped],
        },
        human=lambda: "\n".join(lines),
        names=lambda: [new for _, _, new in replayed],
    )
    for old_id, why in skipped:
        click.echo(f"skipped {old_id}: {why}", err=True)


@dlq.command()
@click.argument("record_id", metavar="ID")
@output_options
@pass_app
def drop(app: App, record_id: str, out: Output) -> None:
    """Delete dead letter ID (as `dlq list` and the provisioner's log name it) for good."""
    letters, inner_id = _locate(app, record_id)
    letters.drop(inner_id)
    out.emit(
        {"dropped": record_id, "stream": letters.config.dead_letters},
        human=lambda: f"dropped {record_id} from {letters.config.dead_letters}",
        names=lambda: [record_id],
    )
