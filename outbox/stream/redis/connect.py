"""The Redis client for a URL: a single redis-server or a Redis Cluster, told apart on connecting.

The kind is learnt from the server (`INFO cluster`), so one OUTBOX_REDIS_URL (any node of a
cluster) is all a deployment sets. The question is asked on the first call, not when the client
is built, so a daemon started while Redis is down waits for it like for any other outage.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)


class ConnectOnFirstUse:
    """Stands for the client until it is first used, then forwards everything to it."""

    def __init__(self, url: str, **options: Any) -> None:
        self._url = url
        self._options = options
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resolved(), name)

    def resolved(self) -> Any:
        if self._client is None:
            self._client = connect(self._url, **self._options)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def connect(url: str, **options: Any) -> Any:
    """`RedisCluster` when the server at `url` has cluster mode on, else `redis.Redis`."""
    client = redis.Redis.from_url(url, **options)
    if not is_cluster(client):
        return client
    client.close()
    log.info("Redis at %s is a cluster: using the cluster client", _without_password(url))
    return RedisCluster.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    return bool(client.info("cluster").get("cluster_enabled"))


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def cluster_client(client: Any) -> Any:
    """The `RedisCluster` behind `client`, if it is one, else None."""
    actual = client.resolved() if isinstance(client, ConnectOnFirstUse) else client
    return actual if isinstance(actual, RedisCluster) else None
