"""gateway-outbox core: the gateway model, the writer API and the MongoDB stores.

from outbox import MemoryStore, Writer
writer = Writer(MemoryStore())
writer.create("edge", {"image": "nginx:1.27", "host": "edge.example.com"})
"""

from outbox.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    NameTaken,
    NotFound,
    OutboxError,
    StaleWrite,
    TransitionRefused,
    VersionConflict,
)
from outbox.events import EventType, OutboxEvent
from outbox.memory_store import MemoryStore
from outbox.model import Environment, EnvironmentState, Gateway, GatewaySpec, Phase, State
from outbox.mongo_store import MongoStore
from outbox.store import Store
from outbox.writer import Writer

__all__ = [
    "BackendUnavailable",
    "Conflict",
    "Environment",
    "EnvironmentState",
    "EventType",
    "Gateway",
    "GatewaySpec",
    "InvalidInput",
    "MemoryStore",
    "MongoStore",
    "NameTaken",
    "NotFound",
    "OutboxError",
    "OutboxEvent",
    "Phase",
    "StaleWrite",
    "State",
    "Store",
    "TransitionRefused",
    "VersionConflict",
    "Writer",
]
