"""Shared fixtures: private servers, stores, a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis
from redis.cluster import RedisCluster

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from tests.support.clock import FakeClock
from tests.support.redis_cluster import RedisClusterServers
from tests.support.servers import PRODUCT_COLLECTIONS, NxServer, RedisServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on the session's private server, flushed before each test."""
    if redis_server.process is None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """Three masters, no replicas: started once per worker, flushed before each test."""
    cluster = RedisClusterServers(masters=3).start()
    yield cluster
    cluster.close()


@pytest.fixture
def redis_cluster_client(redis_cluster: RedisClusterServers) -> Iterator[RedisCluster]:
    if not redis_cluster.processes:
        redis_cluster.start()
    client = redis_cluster.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def replicated_cluster() -> Iterator[RedisClusterServers]:
    """Three masters with one replica each, for WAIT (OUTBOX_REDIS_WAIT_REPLICAS)."""
    cluster = RedisClusterServers(masters=3, replicas=1).start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def nx_server() -> Iterator[NxServer]:
    server = NxServer().start()
    yield server
    server.close()


@pytest.fixture
def memory_store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def nx_store(nx_server: NxServer) -> Iterator[MongoStore]:
    """A MongoStore over the wire on nx-27017, emptied first.

    nx-27017 ignores the database name (every database shares one set of collections), so
    isolation comes from emptying the collections, not from a fresh database.
    """
    store = MongoStore(nx_server.uri, database="outbox", timeout_seconds=5)
    for name in PRODUCT_COLLECTIONS:
        store.database[name].delete_many({})
    store.ensure_indexes(retention_seconds=0)
    yield store
    store.close()


REAL_MONGODB_URI = os.environ.get("OUTBOX_TEST_MONGODB_URI")


@pytest.fixture
def replica_set_store() -> Iterator[MongoStore]:
    if not REAL_MONGODB_URI:
        pytest.skip("set OUTBOX_TEST_MONGODB_URI to a MongoDB replica set to run this contract")
    store = MongoStore(REAL_MONGODB_URI, database=f"outbox_test_{uuid4().hex[:8]}")
    store.ensure_indexes(retention_seconds=0)
    yield store
    store.client.drop_database(store.database.name)
    store.close()


@pytest.fixture(params=["memory", "nx-27017", "replica-set"])
def any_store(request: pytest.FixtureRequest) -> MongoStore | MemoryStore:
    """Each store adapter in turn: the contract suites run against all of them."""
    name = {"memory": "memory_store", "nx-27017": "nx_store", "replica-set": "replica_set_store"}
    return request.getfixturevalue(name[request.param])  # type: ignore[no-any-return]
