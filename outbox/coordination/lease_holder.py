"""A lease in MongoDB (relay leadership, one partition), taken, renewed and released atomically.

Every operation is a single-document update (no transactions). A takeover raises the fencing
token; the token is at least the takeover time in milliseconds, so it keeps increasing even if
the lease document is lost. The holder trusts its lease only until a safety margin before the
expiry it wrote, measured from before its renewal was sent, so it stops publishing before a
standby whose clock agrees can take over.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from outbox.coordination.leases import LeaseRecord, parse_lease
from outbox.domain.clock import Clock, utcnow
from outbox.store.leases import Leases
from outbox.store.port import Store

log = logging.getLogger(__name__)

# Trust the lease for this share of its length only: room for clock skew between relays.
TRUSTED_SHARE = 0.8


class Lease:
    def __init__(
        self, store: Store, *, name: str, owner: str, seconds: float, clock: Clock = utcnow
    ) -> None:
        self._leases = Leases(store)
        self.name = name
        self.owner = owner
        self._length = timedelta(seconds=seconds)
        self._clock = clock
        self.token: int | None = None
        self._trusted_until: datetime | None = None

    def acquire(self) -> bool:
        """Renew the lease if held, else take it if free or expired; True if this owner holds it."""
        started = self._clock()
        if self.token is not None and self._renew(started, self.token):
            return True
        if self.token is not None:
            log.warning("lease %s lost by %s (token %d)", self.name, self.owner, self.token)
            self.forget()
        return self._take_over(started)

    def valid(self) -> bool:
        """Whether this relay may still publish: held, and not near its expiry by our clock."""
        return self._trusted_until is not None and self._clock() < self._trusted_until

    def forget(self) -> None:
        """Stop trusting the lease at once (another relay proved it holds a newer one)."""
        self.token = None
        self._trusted_until = None

    def release(self) -> None:
        """Hand the lease back so a standby need not wait for it to expire."""
        if self.token is None:
            return
        self._leases.release(self.name, owner=self.owner, token=self.token, at=self._clock())
        log.info("lease %s released by %s (token %d)", self.name, self.owner, self.token)
        self.forget()

    def holder(self) -> LeaseRecord | None:
        """The lease as stored (held or not), or None when no relay ever took it."""
        document = self._leases.get(self.name)
        return None if document is None else parse_lease(document)

    def _renew(self, started: datetime, token: int) -> bool:
        renewed = self._leases.renew(
            self.name, owner=self.owner, token=token, until=started + self._length
        )
        if renewed:
            self._trust_from(started)
        return renewed

    def _take_over(self, started: datetime) -> bool:
        current = self.holder()
        if current is not None and current.held_at(started):
            return False
        token = max((current.token + 1) if current else 1, int(started.timestamp() * 1000))
        # Over the token read above: of two standbys, only one wins.
        if not self._leases.take(
            self.name,
            replacing=None if current is None else current.token,
            owner=self.owner,
            token=token,
            expires_at=started + self._length,
        ):
            return False
        self.token = token
        self._trust_from(started)
        log.info(
            "lease %s taken by %s (token %d, previous holder %s)",
            self.name,
            self.owner,
            token,
            current.owner if current else None,
        )
        return True

    def _trust_from(self, started: datetime) -> None:
        self._trusted_until = started + self._length * TRUSTED_SHARE
