"""Releasing parked events, with the stream's high-water marks in mind.

A parked event whose version is above its gateway's mark goes back to the relay and is
published in order. One at or below the mark (a later version of its gateway went past it, or
it was repaired after the fact) would be skipped as a duplicate: it is refused, unless the
operator asks for it out of order, and then it is added again as a new entry marked
`redelivered` (the provisioner is level-triggered, so an old event only makes it look at the
gateway again) and recorded as published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from outbox.domain.event_documents import Read
from outbox.domain.events import OutboxEvent
from outbox.stream import EventStream
from relay.errors import BehindMark
from relay.outbox_reader import OutboxReader


@dataclass
class Unparked:
    released: int = 0  # back to the relay, in order
    redelivered: list[tuple[str, str]] = field(default_factory=list)  # (event id, entry id)


def behind_marks(chosen: Sequence[Read], marks: Mapping[str, int]) -> list[OutboxEvent]:
    """The events at or below their gateway's mark (pure)."""
    return [
        event
        for event in chosen
        if isinstance(event, OutboxEvent) and event.version <= marks.get(event.aggregate_id, 0)
    ]


def refusal(behind: Sequence[OutboxEvent], marks: Mapping[str, int]) -> str:
    listed = ", ".join(
        f"{e.id} ({e.aggregate_id} v{e.version}, mark v{marks[e.aggregate_id]})" for e in behind[:5]
    )
    more = f" and {len(behind) - 5} more" if len(behind) > 5 else ""
    return (
        f"{len(behind)} event(s) are at or below their gateway's high-water mark: {listed}{more}. "
        "The relay would skip them as already published; nothing was released. Pass "
        "--out-of-order to add them again as entries marked redelivered (consumers look at the "
        "gateway again), or leave them parked"
    )


def unpark(
    reader: OutboxReader,
    stream: EventStream,
    chosen: Sequence[Read],
    *,
    out_of_order: bool,
    now: datetime,
) -> Unparked:
    """Release `chosen` (parked documents); raises `BehindMark` (nothing changed) when some are
    at or below their mark and `out_of_order` is not given."""
    gateways = sorted({e.aggregate_id for e in chosen if isinstance(e, OutboxEvent)})
    marks = stream.marks(gateways)
    behind = behind_marks(chosen, marks)
    if behind and not out_of_order:
        raise BehindMark(refusal(behind, marks))
    result = Unparked()
    if behind:
        entry_ids = stream.redeliver(behind)
        reader.mark_published(behind, at=now)
        result.redelivered = [(e.id, i) for e, i in zip(behind, entry_ids, strict=True)]
    skipped = {event.id for event in behind}
    rest = [read.id for read in chosen if read.id not in skipped]
    if rest:
        result.released = reader.unpark(rest)
    return result
