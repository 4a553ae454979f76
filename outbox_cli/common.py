"""What the commands share: common options, and opening each backend from the settings.

One place, so that every command reaches MongoDB, Redis and the cluster the same way. Backends
are imported when opened: a command pays only for the clients it uses.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from outbox.domain.clock import as_utc
from outbox.domain.errors import InvalidInput
from outbox.runtime.settings import CommonSettings
from outbox_cli.output import output_options, table

if TYPE_CHECKING:
    from outbox.store.port import Store
    from outbox.stream import DeadLetter, StreamConfig
    from outbox.stream.redis.stream import RedisStream
    from provisioner.cluster.port import Cluster
    from provisioner.settings import ProvisionerSettings

log = logging.getLogger(__name__)

MEMORY_URI = "memory://"

__all__ = ["output_options", "table"]

version_option = click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Refuse (exit 4) unless the gateway is still at this version.",
)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "reason": letter.reason,
        "entry_id": letter.entry_id,
        "deliveries": letter.deliveries,
        "consumer": letter.consumer,
        "at": letter_time(letter),
        "fields": letter.fields,
    }


def letter_time(letter: DeadLetter) -> datetime | None:
    """When it was dead-lettered (the record keeps it as ISO 8601 text); None if unreadable."""
    try:
        return None if not letter.at else as_utc(datetime.fromisoformat(letter.at))
    except ValueError:
        return None


# -- backends -------------------------------------------------------------------------------------


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
    from outbox.store.mongo.store import MongoStore

    return MongoStore(
        settings.mongodb_uri, database=settings.database, timeout_seconds=settings.mongodb_timeout
    )


def open_stream(settings: CommonSettings, config: StreamConfig | None = None) -> RedisStream:
    """The stream at OUTBOX_REDIS_URL; the daemons' factories give it their own names."""
    from outbox.stream import StreamConfig
    from outbox.stream.redis.stream import RedisStream

    return RedisStream.from_url(settings.redis_url, config or StreamConfig(stream=settings.stream))


def open_group_stream(settings: ProvisionerSettings) -> RedisStream:
    """The stream as the provisioners' group sees it (`dlq`, `status`)."""
    from provisioner.factory import stream_config

    return open_stream(settings, stream_config(settings))


def open_cluster(settings: ProvisionerSettings) -> Cluster:
    # Imported here: the Kubernetes client is slow to import, and only the provisioner needs it.
    if settings.cluster == "memory":
        from provisioner.cluster.memory import MemoryCluster

        log.warning("using the in-memory cluster: nothing reaches Kubernetes")
        return MemoryCluster(namespace=settings.namespace, rollout_seconds=settings.memory_rollout)
    from provisioner.cluster.kubernetes import KubernetesCluster

    return KubernetesCluster.from_config(settings.namespace, workers=settings.workers)
