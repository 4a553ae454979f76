"""The sweeper's questions to the store: which gateways need a look now, and how many are where.

Level-triggered recovery: whatever an event failed to bring (lost, trimmed, dead-lettered, or a
retry after a failure), the sweep finds from the documents themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime

from outbox.store.gateway_queries import GatewayQueries
from outbox.store.port import Store


@dataclass(frozen=True)
class Census:
    per_phase: dict[str, int]
    retries_pending: int


class Sweeper:
    def __init__(
        self, store: Store, *, owned: Callable[[], Set[int] | None] = lambda: None
    ) -> None:
        """`owned` names the partitions whose gateways are swept and resynced (None: all)."""
        self._gateways = GatewayQueries(store)
        self._owned = owned

    def due(self, now: datetime) -> list[str]:
        """Gateways not at rest (unless waiting out a back-off) and any whose retry is due."""
        # Without a back-off to wait out (or one that cannot be read), the gateway is due now.
        due = [
            gateway.id
            for gateway in self._gateways.unsettled(partitions=self._owned())
            if gateway.retry_at is None or gateway.retry_at <= now
        ]
        retries = self._gateways.retries_due(now, partitions=self._owned())
        return list(dict.fromkeys(due + retries))

    def resting_started(self) -> list[str]:
        """Started gateways at rest: checked for drift at a slower pace."""
        return self._gateways.started_at_rest(partitions=self._owned())

    def census(self, now: datetime) -> Census:
        """Gateways per phase and how many wait out a back-off: counted by the database."""
        return Census(self._gateways.count_per_phase(), self._gateways.retries_waiting(now))
