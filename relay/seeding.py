"""Seeding the stream's high-water marks from what is already published.

A stream written by a release that kept one dedupe key per event (or a stream whose marks were
lost while it stayed) has entries but no marks; the publish script refuses it until the marks
are seeded. Each gateway's mark becomes the highest version known published: among the stream's
entries, among the events the old dedupe keys still name, and among the outbox's published
events. The refused publish raised the fence first and the record fences the old release's
relays too, so nothing is published while the record is taken.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from outbox.stream import EventStream
from relay.outbox_reader import OutboxReader

log = logging.getLogger(__name__)


def seed_marks(reader: OutboxReader, stream: EventStream, *, token: int) -> dict[str, int]:
    """Seed the marks; returns them. Raises `Fenced` if a newer lease holder has published."""
    record = stream.published_record(token=token)
    marks = highest(
        record.versions,
        reader.highest_among(record.event_ids),
        reader.highest_published(),
    )
    stream.seed_marks(marks, token=token)
    log.warning(
        "seeded the high-water marks of stream %s for %d gateways (from %d stream gateways, "
        "%d old dedupe keys and the outbox)",
        stream.config.stream,
        len(marks),
        len(record.versions),
        len(record.event_ids),
    )
    return marks


def highest(*sources: Mapping[str, int]) -> dict[str, int]:
    """Each gateway's highest version across the sources."""
    marks: dict[str, int] = {}
    for source in sources:
        for gateway, version in source.items():
            marks[gateway] = max(version, marks.get(gateway, 0))
    return marks
