"""The provisioner's heartbeat record, and who else was alive at the last beat.

Consumers of the shared group without a live heartbeat will never ack what they hold: the
shared partition's reader takes their entries over once after each beat (`DeadConsumers` in
`provisioner.partition_reader`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from outbox.coordination.membership import Membership
from outbox.domain.clock import Clock


class Heartbeat:
    def __init__(self, membership: Membership, *, clock: Clock) -> None:
        self.membership = membership  # the record; partition leases beat it too
        self._clock = clock
        self._due: datetime | None = None
        # Consumers with a heartbeat as of the last beat, until a takeover has looked at them.
        self.live: frozenset[str] | None = None

    def beat(self) -> None:
        at = self.membership.beat()
        self._due = at + timedelta(seconds=self.membership.interval)
        self.live = frozenset(member.name for member in self.membership.live(at))

    def until_beat(self) -> float:
        """Seconds until the next beat is due (0 before the first)."""
        if self._due is None:
            return 0.0
        return (self._due - self._clock()).total_seconds()

    def looked_at(self) -> None:
        """The live consumers of the last beat have been looked at: the next beat says again."""
        self.live = None

    def leave(self) -> None:
        self.membership.leave()
