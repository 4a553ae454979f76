"""The event stream: its port, the error policy for Redis replies, and two adapters.

`outbox.stream.redis.stream` (and `redis_dead_letters`) are the only modules of `outbox` that
import redis; everything else, the daemons included, sees the `EventStream` port.
"""

from outbox.stream.errors import Fenced, LeaseLost, MarksUnseeded, StreamUnavailable
from outbox.stream.port import EventStream, StreamConfig
from outbox.stream.records import (
    Claimed,
    ConsumerInfo,
    ConsumerPending,
    DeadLetter,
    Entry,
    GroupStatus,
    Publication,
    PublishedRecord,
    ReplayReport,
    StreamStatus,
)

__all__ = [
    "Claimed",
    "ConsumerInfo",
    "ConsumerPending",
    "DeadLetter",
    "Entry",
    "EventStream",
    "Fenced",
    "GroupStatus",
    "LeaseLost",
    "MarksUnseeded",
    "Publication",
    "PublishedRecord",
    "ReplayReport",
    "StreamConfig",
    "StreamStatus",
    "StreamUnavailable",
]
