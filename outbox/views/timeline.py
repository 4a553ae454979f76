"""A gateway's history from its retained outbox events: the phases it went through, and how long.

Pure functions: each event names who made the change (its actor, absent from older events); the
provisioner's events carry the phase they led to (`payload.phase`), and an event's `occurred_at`
is the moment of that change. Events removed by the retention period are
simply absent: the spans then begin at the first phase change still retained. A document that
is not an event is shown as unreadable, with its id and reason, and takes no part in the spans.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.domain.event_documents import Read, Unreadable
from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import Phase


@dataclass(frozen=True)
class PhaseSpan:
    phase: Phase
    entered_at: datetime
    left_at: datetime | None  # None: the gateway is still in this phase
    seconds: float


def phase_spans(events: Sequence[OutboxEvent], *, now: datetime) -> list[PhaseSpan]:
    """The phases the events show, in order, each with the time spent in it.

    A gateway is Created when its GatewayCreated event is written; every later phase comes from
    an event whose payload names a different phase than the current one (a GatewayFailed that
    leaves the phase alone does not open a span). The last span runs until `now`.
    """
    changes: list[tuple[Phase, datetime]] = []
    for event in sorted(events, key=lambda event: event.version):
        phase = _phase_after(event)
        if phase is not None and (not changes or changes[-1][0] is not phase):
            changes.append((phase, event.occurred_at))
    spans = []
    for index, (phase, entered_at) in enumerate(changes):
        left_at = changes[index + 1][1] if index + 1 < len(changes) else None
        until = left_at or max(now, entered_at)
        spans.append(PhaseSpan(phase, entered_at, left_at, (until - entered_at).total_seconds()))
    return spans


def time_per_phase(spans: Sequence[PhaseSpan]) -> dict[str, float]:
    """Total seconds per phase (a gateway started twice was Starting twice), in first-seen order."""
    totals: dict[str, float] = {}
    for span in spans:
        totals[str(span.phase)] = totals.get(str(span.phase), 0.0) + span.seconds
    return totals


def events_of(history: Sequence[Read]) -> list[OutboxEvent]:
    return [entry for entry in history if isinstance(entry, OutboxEvent)]


def unreadable_of(history: Sequence[Read]) -> list[Unreadable]:
    return [entry for entry in history if isinstance(entry, Unreadable)]


TIMELINE_COLUMNS = ("VERSION", "TIME", "TYPE", "ACTOR", "PAYLOAD")


def timeline_row(entry: Read) -> tuple[str, str, str, str, str]:
    """VERSION, TIME, TYPE, ACTOR, PAYLOAD of one line of the timeline; `-` for the actor of
    an event written before events named theirs."""
    if isinstance(entry, Unreadable):
        version = "?" if entry.version is None else str(entry.version)
        return version, "-", f"UNREADABLE {entry.id}", "-", entry.reason
    return (
        str(entry.version),
        f"{entry.occurred_at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + "Z",
        str(entry.type),
        entry.actor or "-",
        short_payload(entry.payload),
    )


def unreadable_json(entry: Unreadable) -> dict[str, Any]:
    return {"id": entry.id, "version": entry.version, "reason": entry.reason}


def span_json(span: PhaseSpan) -> dict[str, Any]:
    """Times stay datetimes: the command line prints every time in one format."""
    return {
        "phase": str(span.phase),
        "entered_at": span.entered_at,
        "left_at": span.left_at,
        "seconds": span.seconds,
    }


def span_line(span: PhaseSpan) -> str:
    """`Starting     1.2s  10:00:00Z → 10:00:01Z`: one line of the time spent in each phase."""
    until = "now" if span.left_at is None else f"{span.left_at:%H:%M:%S}Z"
    return (
        f"{str(span.phase).ljust(9)} {format_seconds(span.seconds).rjust(7)}"
        f"  {span.entered_at:%H:%M:%S}Z → {until}"
    )


def short_payload(payload: Mapping[str, Any], *, width: int = 72) -> str:
    """`key=value` pairs on one line, cut to `width` characters."""
    text = " ".join(
        f"{key}={value if isinstance(value, str) else _compact(value)}"
        for key, value in payload.items()
    )
    return text if len(text) <= width else text[: width - 1] + "…"


def format_seconds(seconds: float) -> str:
    """1.5s, 42s, 3m05s, 2h01m, 3d04h: short and still exact enough to compare."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    return format_whole_seconds(int(seconds))


def format_whole_seconds(whole: int) -> str:
    """45s, 3m05s, 2h01m, 3d04h: the two largest units."""
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _phase_after(event: OutboxEvent) -> Phase | None:
    if event.type is EventType.CREATED:
        return Phase.CREATED
    value = event.payload.get("phase")
    try:
        return Phase(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
