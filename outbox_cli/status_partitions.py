"""The partitions in `outbox status`: per partition, backlog, owners (relay and provisioner),
lag and pending; as lines for people and as JSON for scripts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from outbox.stream import EventStream
from outbox.stream.keys import partition_stream
from outbox.views.partition_status import PartitionRow
from outbox_cli.common import table


def with_stream_figures(rows: list[PartitionRow], stream: EventStream) -> list[PartitionRow]:
    """Each row with its stream's lag and pending (the group's view). Raises
    BackendUnavailable when Redis does not answer."""
    base = stream.config
    figured = []
    for row in rows:
        name = partition_stream(base.stream, row.partition)
        view = stream.with_config(replace(base, stream=name, dead_letters=""))
        group = view.status(latest=1).group
        figured.append(
            replace(row, lag=group.lag if group else None, pending=group.pending if group else 0)
        )
    return figured


def partition_lines(rows: list[PartitionRow] | None) -> list[str]:
    if rows is None:
        return ["PARTITIONS  none recorded (one stream; `outbox init` records them)"]
    lines = [f"PARTITIONS  {len(rows)}"]
    header = ("PARTITION", "BACKLOG", "RELAY", "PROVISIONER", "LAG", "PENDING")
    body = [
        (
            str(row.partition),
            str(row.backlog),
            row.relay or "-",
            row.provisioner or "-",
            "?" if row.lag is None else str(row.lag),
            "?" if row.pending is None else str(row.pending),
        )
        for row in rows
    ]
    return lines + ["  " + line for line in table(header, body).splitlines()]


def partitions_json(rows: list[PartitionRow] | None) -> list[dict[str, Any]] | None:
    if rows is None:
        return None
    return [
        {
            "partition": row.partition,
            "backlog": row.backlog,
            "relay": row.relay,
            "provisioner": row.provisioner,
            "lag": row.lag,
            "pending": row.pending,
        }
        for row in rows
    ]
