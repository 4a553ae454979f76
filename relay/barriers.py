"""Which gateways a parked or unreadable outbox document holds up, and from which version.

Pure functions. A parked event of gateway g at version v holds up g's versions from v on. A
document that is not an event holds up its gateway from its version on when that can be read,
else all of that gateway's unpublished events (barrier 0: versions start at 1). One whose
gateway cannot be read holds up nothing: there is nothing it could be in order with.
"""

from __future__ import annotations

from collections.abc import Iterable

from outbox.domain.event_documents import Read, Unreadable
from outbox.domain.events import OutboxEvent
from relay.ordering import Row

WHOLE_GATEWAY = 0


def barrier_of(item: Read) -> tuple[str, int] | None:
    if isinstance(item, OutboxEvent):
        return item.aggregate_id, item.version
    if item.gateway_id is None:
        return None
    return item.gateway_id, WHOLE_GATEWAY if item.version is None else item.version


def blocked_by(items: Iterable[Read]) -> dict[str, int]:
    """Each held-up gateway's lowest barrier."""
    blocked: dict[str, int] = {}
    for item in items:
        barrier = barrier_of(item)
        if barrier is not None:
            block(blocked, *barrier)
    return blocked


def block(blocked: dict[str, int], gateway: str, version: int) -> None:
    blocked[gateway] = min(version, blocked.get(gateway, version))


def barrier_rows(documents: Iterable[Unreadable]) -> list[Row]:
    """Unreadable documents as parked rows for the ordering check."""
    rows = []
    for document in documents:
        barrier = barrier_of(document)
        if barrier is not None:
            rows.append(Row(document.id, barrier[0], barrier[1], parked=True))
    return rows
