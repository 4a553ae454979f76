"""Builds the real parts from settings: the store, the event stream, the cluster."""

from __future__ import annotations

from outbox.errors import InvalidInput
from outbox.mongo_store import MongoStore
from outbox.settings import CommonSettings
from outbox.store import Store
from outbox.stream import StreamConfig
from outbox.stream.redis_stream import RedisStream
from provisioner.factory import stream_config
from provisioner.settings import ProvisionerSettings

MEMORY_URI = "memory://"


def open_store(settings: CommonSettings) -> Store:
    if settings.mongodb_uri.startswith(MEMORY_URI):
        # The demo builds its in-memory store itself; a command here would lose its data on exit.
        raise InvalidInput(
            "OUTBOX_MONGODB_URI=memory:// keeps data inside one process; it only works in "
            "`outbox demo`. Point it at a MongoDB replica set."
        )
    if not settings.mongodb_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidInput(
            "OUTBOX_MONGODB_URI must start with mongodb:// or mongodb+srv:// (or be memory://)"
        )
    return MongoStore(
        settings.mongodb_uri, database=settings.database, timeout_seconds=settings.mongodb_timeout
    )


def open_stream(settings: CommonSettings, config: StreamConfig | None = None) -> RedisStream:
    """The stream at OUTBOX_REDIS_URL; the daemons' factories give it their own names."""
    return RedisStream.from_url(settings.redis_url, config or StreamConfig(stream=settings.stream))


def open_group_stream(settings: ProvisionerSettings) -> RedisStream:
    """The stream as the provisioners' group sees it (`dlq`, `status`)."""
    return open_stream(settings, stream_config(settings))
