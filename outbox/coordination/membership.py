"""Who is alive: one heartbeat record per daemon process in MongoDB.

A process beats every `interval` seconds on the injected clock; a record whose beat is older than
`MISSED_BEATS` intervals belongs to a process that is gone. Host names cannot tell (a new pod has a
new one), the beat can. Records are written outside transactions: a beat must never wait for, or
abort, a unit of work. The provisioner uses it to take over a dead consumer's pending entries;
partition ownership of relays and provisioners builds on the same records.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from outbox.domain.clock import Clock, as_utc, utcnow
from outbox.store.members import Members
from outbox.store.port import Store

log = logging.getLogger(__name__)

MISSED_BEATS = 3  # beats a member may miss (a slow turn, a GC pause) before it counts as gone
FORGET_AFTER = timedelta(days=1)  # records of members gone this long are deleted


@dataclass(frozen=True)
class Member:
    role: str  # "provisioner", "relay": one collection serves every kind of daemon
    name: str  # the consumer name (or relay id): unique within its role
    host: str
    pid: int
    last_beat: datetime
    expires_at: datetime


class Membership:
    def __init__(
        self,
        store: Store,
        *,
        role: str,
        name: str,
        interval: float,
        clock: Clock = utcnow,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self._members = Members(store)
        self.role = role
        self.name = name
        self.interval = interval
        self._clock = clock
        self._host = host or socket.gethostname()
        self._pid = os.getpid() if pid is None else pid

    def beat(self) -> datetime:
        """Record that this process is alive now; returns the time written."""
        now = self._clock()
        # Each record says how long it holds, so members with different intervals can coexist.
        expires_at = as_utc(now + timedelta(seconds=self.interval * MISSED_BEATS))
        self._members.beat(
            self.role, self.name, host=self._host, pid=self._pid, at=now, expires_at=expires_at
        )
        # A crashed member never leaves: its record goes once nobody can care about it any more
        # (here rather than by a TTL index, so that it follows the injected clock).
        self._members.forget(self.role, expired_before=now - FORGET_AFTER)
        return now

    def live(self, now: datetime | None = None) -> list[Member]:
        """Members of this role whose last beat is recent enough."""
        at = now or self._clock()
        return [_member(document) for document in self._members.live(self.role, at=at)]

    def leave(self) -> None:
        """A clean shutdown: the record goes, and nobody waits for it to expire."""
        self._members.remove(self.role, self.name)
        log.info("%s %s left the membership", self.role, self.name)


def _member(document: dict[str, object]) -> Member:
    return Member(
        role=str(document["role"]),
        name=str(document["name"]),
        host=str(document.get("host", "")),
        pid=int(str(document.get("pid", 0))),
        last_beat=_date(document["last_beat"]),
        expires_at=_date(document["expires_at"]),
    )


def _date(value: object) -> datetime:
    assert isinstance(value, datetime)
    return as_utc(value)
