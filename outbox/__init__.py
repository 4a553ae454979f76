"""gateway-outbox core: the gateway model, the writer API and the MongoDB stores.

from outbox import MemoryStore, Writer
writer = Writer(MemoryStore())
writer.create("edge", {"image": "nginxinc/nginx-unprivileged:1.27", "host": "edge.example.com"})

The names below are imported when first used: importing one module of the package (as every
command does) must not load pymongo, mongomock and the rest with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outbox.domain.errors import (
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
    from outbox.domain.events import EventType, OutboxEvent
    from outbox.domain.model import (
        Environment,
        EnvironmentState,
        Gateway,
        GatewaySpec,
        Phase,
        State,
    )
    from outbox.store.memory.store import MemoryStore
    from outbox.store.mongo.store import MongoStore
    from outbox.store.port import Store
    from outbox.writer import Writer

_HOMES = {
    "outbox.domain.errors": (
        "BackendUnavailable",
        "Conflict",
        "InvalidInput",
        "NameTaken",
        "NotFound",
        "OutboxError",
        "StaleWrite",
        "TransitionRefused",
        "VersionConflict",
    ),
    "outbox.domain.events": ("EventType", "OutboxEvent"),
    "outbox.store.memory.store": ("MemoryStore",),
    "outbox.domain.model": (
        "Environment",
        "EnvironmentState",
        "Gateway",
        "GatewaySpec",
        "Phase",
        "State",
    ),
    "outbox.store.mongo.store": ("MongoStore",),
    "outbox.store.port": ("Store",),
    "outbox.writer": ("Writer",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'outbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
