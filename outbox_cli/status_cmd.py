"""`outbox status [--json]`: the whole pipeline at a glance, for operators and scripts.

MongoDB (outbox, leases, gateways) and Redis (stream, group, dead letters) are read separately:
when one is unreachable the other is still shown, the report says which failed, and the command
exits 6 after printing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import click

from outbox.domain.clock import utcnow
from outbox.domain.deadlines import Timeouts
from outbox.domain.errors import BackendUnavailable
from outbox.store.mongo.store import redact
from outbox.stream import DeadLetter, StreamStatus
from outbox.views.partition_status import PartitionRow, partition_lease_names, partitions_status
from outbox.views.status import (
    GatewayAttention,
    GatewaysStatus,
    OutboxStatus,
    ParkedEvent,
    gateways_status,
    outbox_status,
)
from outbox.views.timeline import format_seconds
from outbox_cli.app import App, pass_app
from outbox_cli.common import dead_letter_json, open_group_stream, table
from outbox_cli.exit_codes import UNREACHABLE
from outbox_cli.output import Output, output_options
from outbox_cli.status_partitions import partition_lines, partitions_json, with_stream_figures
from provisioner.settings import ProvisionerSettings

LATEST_DEAD_LETTERS = 5


@dataclass(frozen=True)
class Report:
    now: datetime
    mongodb: str  # where, without secrets
    redis: str
    outbox: OutboxStatus | None = None
    gateways: GatewaysStatus | None = None
    stream: StreamStatus | None = None
    partitions: list[PartitionRow] | None = None  # None: the store records no partitions
    partition_leases: frozenset[str] = frozenset()  # shown per partition, not as relay leases
    mongodb_error: str | None = None
    redis_error: str | None = None


WATCH_INTERVAL = 2.0


@click.command()
@click.option(
    "-w", "--watch", is_flag=True, help=f"Print again every {WATCH_INTERVAL:.0f}s, until Ctrl-C."
)
@output_options
@pass_app
@click.pass_context
def status(ctx: click.Context, app: App, watch: bool, out: Output) -> None:
    """Backlog, parked events, relay lease, stream lag, dead letters and gateways needing care.

    Exits 6 (after printing what it could read) when MongoDB or Redis is unreachable.
    """
    report = _print(app, out)
    while watch:  # Redis has no change stream to follow: read both again now and then
        time.sleep(WATCH_INTERVAL)
        click.echo("" if out.machine else f"\n--- {utcnow():%H:%M:%S}Z")
        report = _print(app, out)
    failures = [error for error in (report.mongodb_error, report.redis_error) if error]
    if failures:
        for error in failures:
            click.echo(f"error: {error}", err=True)
        ctx.exit(UNREACHABLE)


def _print(app: App, out: Output) -> Report:
    report = collect(app, now=utcnow())
    out.emit(report_json(report), human=lambda: render(report))
    return report


def collect(app: App, *, now: datetime) -> Report:
    settings = app.settings(ProvisionerSettings)
    report = Report(now=now, mongodb=redact(settings.mongodb_uri), redis=redact(settings.redis_url))
    timeouts = Timeouts(settings.start_timeout, settings.stop_timeout, settings.delete_timeout)
    try:
        store = app.store()
        report = replace(
            report,
            mongodb=store.description,
            outbox=outbox_status(store, now=now),
            gateways=gateways_status(store, now=now, timeouts=timeouts),
            partitions=partitions_status(store, stream=settings.stream, now=now),
        )
        count = len(report.partitions or [])
        report = replace(
            report, partition_leases=frozenset(partition_lease_names(settings.stream, count))
        )
    except BackendUnavailable as error:
        report = replace(report, mongodb_error=str(error))
    stream = open_group_stream(settings)
    try:
        report = replace(report, stream=stream.status(latest=LATEST_DEAD_LETTERS))
        if report.partitions is not None:
            report = replace(report, partitions=with_stream_figures(report.partitions, stream))
    except BackendUnavailable as error:
        report = replace(report, redis_error=str(error))
    finally:
        stream.close()
    return report


# -- human output -------------------------------------------------------------------------------


def render(report: Report) -> str:
    lines: list[str] = []
    lines += _outbox_lines(report)
    lines.append("")
    lines += _stream_lines(report)
    lines.append("")
    if report.partitions is not None:
        lines += [*partition_lines(report.partitions), ""]
    lines += _gateway_lines(report)
    return "\n".join(lines)


def _outbox_lines(report: Report) -> list[str]:
    lines = [f"OUTBOX  {report.mongodb}"]
    if report.outbox is None:
        return [*lines, f"  {report.mongodb_error}"]
    outbox, now = report.outbox, report.now
    oldest = outbox.oldest_unpublished_at
    age = f", oldest {_ago(oldest, now)} ({_time(oldest)})" if oldest else ""
    lines.append(f"  backlog       {outbox.backlog} unpublished{age}")
    lines.append(f"  parked        {outbox.parked_total}")
    for event in outbox.parked:
        lines.append(f"    {event.event_id}  {_parked_summary(event)}")
        lines.append(f"      last error: {event.last_error or '-'}")
    if not outbox.leases:
        lines.append("  relay lease   none (no relay has run)")
    for lease in outbox.leases:
        if lease.name in report.partition_leases:
            continue  # shown per partition
        if lease.held and lease.expires_at is not None:
            holder = (
                f"held by {lease.owner} (token {lease.token}), expires {_time(lease.expires_at)} "
                f"(in {format_seconds((lease.expires_at - now).total_seconds())})"
            )
        else:
            holder = f"free (last token {lease.token})"
        lines.append(f"  relay lease   {lease.name}: {holder}")
    return lines


def _parked_summary(event: ParkedEvent) -> str:
    gateway = f"gateway {event.gateway_id}" if event.gateway_id else "no gateway"
    version = "no version" if event.version is None else f"v{event.version}"
    if event.unreadable:
        return f"UNREADABLE ({gateway}, {version}), holds up {event.holds_up} event(s)"
    return (
        f"{gateway} {version} {event.type}, {event.attempts} attempts, "
        f"holds up {event.holds_up} later event(s)"
    )


def _stream_lines(report: Report) -> list[str]:
    if report.stream is None:
        return [f"STREAM  {report.redis}", f"  {report.redis_error}"]
    stream = report.stream
    lines = [f"STREAM  {stream.stream} at {report.redis}"]
    lines.append(f"  length        {stream.length} entries, last {stream.last_entry_id or '-'}")
    group = stream.group
    if group is None:
        lines.append("  group         none yet (no provisioner has joined)")
    else:
        lag = "unknown" if group.lag is None else str(group.lag)
        lines.append(
            f"  group         {group.name}: lag {lag}, pending {group.pending}, "
            f"{group.consumers} consumer(s), last delivered {group.last_delivered_id}"
        )
        for consumer in group.pending_per_consumer:
            lines.append(f"    {consumer.name}  {consumer.pending} pending")
    lines.append(f"  dead letters  {stream.dead_letters} in {stream.dead_letter_stream}")
    for letter in stream.latest_dead_letters:
        lines.append(f"    {letter.id}  {_letter_summary(letter)}")
    return lines


def _letter_summary(letter: DeadLetter) -> str:
    what = " ".join(
        value for value in (letter.fields.get("type"), letter.fields.get("aggregate_id")) if value
    )
    return f"{what or '(no fields)'}: {letter.reason} ({letter.deliveries} deliveries)"


def _gateway_lines(report: Report) -> list[str]:
    lines = ["GATEWAYS"]
    if report.gateways is None:
        return [*lines, f"  {report.mongodb_error}"]
    gateways = report.gateways
    per_phase = ", ".join(f"{phase} {count}" for phase, count in gateways.per_phase.items())
    lines.append(f"  per phase     {per_phase}")
    lines.append(
        f"  attention     {len(gateways.attention)}: {gateways.past_deadline} past a deadline, "
        f"{gateways.retrying} waiting to retry, {gateways.with_error} with an error"
    )
    if gateways.attention:
        rows = [_attention_row(item, report.now) for item in gateways.attention]
        header = ("NAME", "STATE", "PHASE", "IN PHASE", "DEADLINE", "RETRY", "LAST ERROR")
        lines += ["    " + line for line in table(header, rows).splitlines()]
    return lines


def _attention_row(item: GatewayAttention, now: datetime) -> tuple[str, ...]:
    overdue = (
        "-" if item.overdue_seconds is None else f"{format_seconds(item.overdue_seconds)} late"
    )
    retry = (
        "-" if item.retry is None else f"#{item.retry.attempts} at {item.retry.next_at:%H:%M:%S}Z"
    )
    error = (
        "-" if item.last_error is None else f"{item.last_error.reason}: {item.last_error.message}"
    )
    return (
        item.name,
        str(item.state),
        str(item.phase),
        _ago(item.phase_changed_at, now).removesuffix(" ago"),
        overdue,
        retry,
        error,
    )


def _time(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z"


def _ago(value: datetime, now: datetime) -> str:
    return f"{format_seconds(max(0.0, (now - value).total_seconds()))} ago"


# -- JSON ---------------------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    return {
        "generated_at": _iso(report.now),
        "mongodb": {
            "where": report.mongodb,
            "reachable": report.mongodb_error is None,
            "error": report.mongodb_error,
        },
        "redis": {
            "where": report.redis,
            "reachable": report.redis_error is None,
            "error": report.redis_error,
        },
        "outbox": None if report.outbox is None else _outbox_json(report.outbox, report.now),
        "stream": None if report.stream is None else _stream_json(report.stream),
        "partitions": partitions_json(report.partitions),
        "gateways": None
        if report.gateways is None
        else _gateways_json(report.gateways, report.now),
    }


def _outbox_json(outbox: OutboxStatus, now: datetime) -> dict[str, Any]:
    oldest = outbox.oldest_unpublished_at
    return {
        "backlog": outbox.backlog,
        "oldest_unpublished_at": _iso(oldest),
        "oldest_unpublished_age_seconds": None
        if oldest is None
        else (now - oldest).total_seconds(),
        "parked_total": outbox.parked_total,
        "parked": [
            {
                "event_id": event.event_id,
                "gateway_id": event.gateway_id,
                "type": event.type,
                "version": event.version,
                "attempts": event.attempts,
                "last_error": event.last_error,
                "occurred_at": _iso(event.occurred_at),
                "holds_up": event.holds_up,
                "unreadable": event.unreadable,
            }
            for event in outbox.parked
        ],
        "leases": [
            {
                "name": lease.name,
                "owner": lease.owner,
                "token": lease.token,
                "expires_at": _iso(lease.expires_at),
                "held": lease.held,
            }
            for lease in outbox.leases
        ],
    }


def _stream_json(stream: StreamStatus) -> dict[str, Any]:
    group = stream.group
    return {
        "stream": stream.stream,
        "length": stream.length,
        "last_entry_id": stream.last_entry_id,
        "group": None
        if group is None
        else {
            "name": group.name,
            "consumers": group.consumers,
            "lag": group.lag,
            "entries_read": group.entries_read,
            "pending": group.pending,
            "last_delivered_id": group.last_delivered_id,
            "oldest_pending_id": group.oldest_pending_id,
            "pending_per_consumer": {c.name: c.pending for c in group.pending_per_consumer},
        },
        "dead_letters": {
            "stream": stream.dead_letter_stream,
            "count": stream.dead_letters,
            "latest": [dead_letter_json(letter) for letter in stream.latest_dead_letters],
        },
    }


def _gateways_json(gateways: GatewaysStatus, now: datetime) -> dict[str, Any]:
    return {
        "per_phase": gateways.per_phase,
        "past_deadline": gateways.past_deadline,
        "retrying": gateways.retrying,
        "with_error": gateways.with_error,
        "attention": [
            {
                "id": item.id,
                "name": item.name,
                "state": str(item.state),
                "phase": str(item.phase),
                "phase_changed_at": _iso(item.phase_changed_at),
                "in_phase_seconds": (now - item.phase_changed_at).total_seconds(),
                "overdue_seconds": item.overdue_seconds,
                "retry": None
                if item.retry is None
                else {"attempts": item.retry.attempts, "next_at": _iso(item.retry.next_at)},
                "last_error": None
                if item.last_error is None
                else {
                    "reason": item.last_error.reason,
                    "message": item.last_error.message,
                    "at": _iso(item.last_error.at),
                },
            }
            for item in gateways.attention
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return (
        None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
