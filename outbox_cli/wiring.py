"""Builds the real parts from settings: the store, the Redis client, the cluster."""

from __future__ import annotations

import redis

from outbox.errors import InvalidInput
from outbox.mongo_store import MongoStore
from outbox.settings import CommonSettings
from outbox.store import Store

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


def open_redis(settings: CommonSettings) -> redis.Redis[str]:
    """A client that gives up on a dead server within seconds instead of hanging."""
    try:
        return redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=10,
            socket_connect_timeout=3,
            health_check_interval=30,
        )
    except ValueError as error:
        raise InvalidInput(f"OUTBOX_REDIS_URL is not a Redis URL: {error}") from None
