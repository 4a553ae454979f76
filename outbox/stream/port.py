"""The stream port: what the relay, the provisioner and the command line need of the event stream.

One stream of gateway events, published to once per event (a high-water mark per gateway,
fencing by lease token, approximate MAXLEN), consumed by one consumer group (read, claim,
reclaim, ack), with a dead-letter stream beside it (exact maxlen) that operators list, replay
and drop. Adapters: `RedisStream` (redis-server) and `MemoryStream` (the in-process stand-in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from outbox.domain.events import OutboxEvent
from outbox.stream import keys
from outbox.stream.records import (
    Claimed,
    ConsumerInfo,
    DeadLetter,
    Entry,
    Publication,
    PublishedRecord,
    ReplayReport,
    StreamStatus,
)


@dataclass(frozen=True)
class StreamConfig:
    """The names and limits one daemon sees the stream with (see the daemons' settings)."""

    stream: str = "events:gateway"
    group: str = "provisioner"
    consumer: str = "provisioner"
    dead_letters: str = field(default="")  # empty: "{<stream>}:dlq", in the stream's slot
    maxlen: int = 0  # approximate length publishing trims the stream to; 0: never trim
    max_entry_bytes: int = 1 << 20  # a larger event is rejected
    dead_letters_maxlen: int = 100_000  # exact bound of the dead-letter stream
    wait_replicas: int = 0  # replicas that must hold a publish before it counts; 0: no WAIT
    wait_timeout_ms: int = 1000  # how long a publish waits for them

    def __post_init__(self) -> None:
        # The untagged name of older releases (`<stream>:dlq`, as older settings files name it)
        # means the tagged one: outside the stream's slot it cannot work on a cluster, and the
        # records found under it are moved over (`redis_legacy_letters`).
        if self.dead_letters in ("", keys.legacy_dead_letters_key(self.stream)):
            object.__setattr__(self, "dead_letters", keys.dead_letters_key(self.stream))


class EventStream(Protocol):
    """Every method raises `StreamUnavailable` when the backend cannot answer now."""

    @property
    def config(self) -> StreamConfig: ...

    def with_config(self, config: StreamConfig) -> EventStream:
        """The same backend (and connection), seen with other names and limits."""
        ...

    # -- publishing (the relay) -----------------------------------------------------------------

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        """One publication per event, in order, atomically: raises `Fenced` when a holder of a
        newer lease token has published; skips an event at or below its gateway's high-water
        mark and raises the mark with each event added; holds back the later events of a
        gateway whose event was rejected; trims to `maxlen`. Raises `MarksUnseeded` (after
        taking the fence) when the stream exists but its marks were never seeded."""
        ...

    def marks(self, gateways: Sequence[str]) -> dict[str, int]:
        """The high-water marks of these gateways (those without one are left out)."""
        ...

    def published_record(self, *, token: int) -> PublishedRecord:
        """What the stream knows was published, for seeding the marks: the highest version of
        each gateway among its entries, and the event ids a release that kept one dedupe key per
        event still remembers. Fences that release's relays off with `token` first."""
        ...

    def seed_marks(self, marks: Mapping[str, int], *, token: int) -> None:
        """Raise each gateway's mark to at least the version given (never lower one), then let
        `publish` go ahead. Raises `Fenced` like `publish`."""
        ...

    def redeliver(self, events: Sequence[OutboxEvent]) -> list[str]:
        """Add these events again, out of order, as new entries with a `redelivered` field,
        leaving the marks alone (`outbox relay unpark --out-of-order`); the new entry ids."""
        ...

    # -- consuming (the provisioner) ------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the group at the start of the stream, unless it exists."""
        ...

    def read_new(self, *, count: int, block_ms: int | None) -> list[Entry]:
        """Entries never delivered to the group, now pending under this consumer."""
        ...

    def claim_own_pending(self, *, count: int) -> list[Claimed]:
        """Entries delivered to this consumer and never acked, claimed again (deliveries + 1)."""
        ...

    def claim_pending_of(self, consumer: str, *, count: int) -> list[Claimed]:
        """Every entry pending under `consumer` (known gone), however short its idle time."""
        ...

    def reclaim_idle(self, *, min_idle_ms: int, count: int) -> list[Claimed]:
        """Entries left pending by any consumer for at least `min_idle_ms`."""
        ...

    def ack(self, *entry_ids: str) -> None: ...

    def dead_letter(
        self, entry_id: str, fields: dict[str, str] | None, reason: str, deliveries: int
    ) -> None:
        """Move an entry to the dead-letter stream with why, and ack it: both or neither."""
        ...

    def consumers(self) -> list[ConsumerInfo]: ...

    def remove_consumer(self, name: str) -> None: ...

    # -- dead letters (the command line) --------------------------------------------------------

    def dead_letter_count(self) -> int: ...

    def latest_dead_letters(self, limit: int) -> list[DeadLetter]:
        """The newest first."""
        ...

    def get_dead_letter(self, record_id: str) -> DeadLetter:
        """Raises NotFound, or InvalidInput for something that is not an entry id."""
        ...

    def replay(self, record_id: str) -> str:
        """Put the record's original fields back on the stream as a new entry and delete the
        record, atomically (two replays of one record publish it once); the new entry id."""
        ...

    def replay_all(self, *, batch: int = 100) -> ReplayReport:
        """Replay every record present when called, oldest first."""
        ...

    def drop(self, record_id: str) -> None: ...

    # -- looking ---------------------------------------------------------------------------------

    def entries(self, *, count: int | None = None) -> list[Entry]:
        """The stream's entries, oldest first."""
        ...

    def status(self, *, latest: int = 5) -> StreamStatus:
        """The figures `outbox status` shows. Read-only: it never creates the group."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
