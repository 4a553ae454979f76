"""The data of the in-memory stream: append-only logs with Redis-style ids, consumer groups with
their pending entries. Plain structures without locking: callers hold `Shared.locked()`."""

from __future__ import annotations

from dataclasses import dataclass, field

from outbox.stream.records import entry_order

Id = tuple[int, int]


def id_text(entry_id: Id) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


@dataclass
class Pending:
    consumer: str
    deliveries: int
    delivered_at: float  # monotonic seconds


@dataclass
class Group:
    last_delivered: Id = (0, 0)
    entries_read: int = 0
    pending: dict[str, Pending] = field(default_factory=dict)  # by entry id, oldest first
    consumers: dict[str, float] = field(default_factory=dict)  # name → last seen (monotonic)

    def deliver(self, entry_id: str, consumer: str, now: float) -> int:
        """Hand (or hand again) an entry to `consumer`; its delivery count."""
        before = self.pending.get(entry_id)
        deliveries = (before.deliveries if before else 0) + 1
        # New entries come in id order (after the last delivered), and a key already there keeps
        # its place: the dict stays sorted by id, as Redis's pending list is.
        self.pending[entry_id] = Pending(consumer, deliveries, now)
        self.consumers[consumer] = now
        return deliveries

    def pending_of(self, consumer: str) -> list[str]:
        return [entry_id for entry_id, p in self.pending.items() if p.consumer == consumer]


@dataclass
class Log:
    """One stream: its entries in id order, the last id ever given, its groups."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    last_id: Id = (0, 0)
    groups: dict[str, Group] = field(default_factory=dict)

    def add(self, fields: dict[str, str], now_ms: int) -> str:
        """Append with an id above every earlier one, as XADD * does."""
        milliseconds, sequence = self.last_id
        self.last_id = (now_ms, 0) if now_ms > milliseconds else (milliseconds, sequence + 1)
        entry_id = id_text(self.last_id)
        self.entries[entry_id] = dict(fields)
        return entry_id

    def trim(self, maxlen: int) -> None:
        """Down to exactly `maxlen` entries, oldest first out."""
        for entry_id in list(self.entries)[: max(0, len(self.entries) - maxlen)]:
            del self.entries[entry_id]

    def after(self, last: Id, count: int) -> list[str]:
        return [entry_id for entry_id in self.entries if entry_order(entry_id) > last][:count]

    def last_entry_id(self) -> str | None:
        return next(reversed(self.entries), None)
