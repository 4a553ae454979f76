"""Reads through the cluster cache: a GET before the first sync and to look for somebody else's
object by name, none otherwise; the answers of our own writes are read back at once."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.cluster.cached import CachedCluster
from provisioner.cluster.informer import Informer
from provisioner.cluster.memory import MemoryCluster
from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import KINDS, ForeignObject
from provisioner.manifests import desired_objects
from tests.support.gateways import make_gateway


def manifests() -> dict[str, dict[str, Any]]:
    gateway = make_gateway("edge", host="edge.example.com")
    objects = desired_objects(gateway, namespace="gateways", start_timeout_seconds=60)
    return {manifest["kind"]: manifest for manifest in objects}


def cached(memory: MemoryCluster, *, synced: bool) -> CachedCluster:
    """A cached cluster whose watches never run: what it knows, it knows from lists and from
    its own writes."""
    cache = ObjectCache()
    if synced:
        for kind in KINDS:
            cache.replace(kind, memory.list(kind).items)
    return CachedCluster(memory, Informer(memory, cache))


def test_before_the_first_sync_a_read_is_a_get() -> None:
    memory = MemoryCluster()
    memory.apply(manifests()["Service"])
    cluster = cached(memory, synced=False)

    assert cluster.get("Service", "edge-gateway") is not None
    assert memory.count("get") == 1


def test_once_synced_reads_send_no_get() -> None:
    memory = MemoryCluster()
    memory.apply(manifests()["Service"])
    cluster = cached(memory, synced=True)

    assert cluster.get("Service", "edge-gateway") is not None
    assert cluster.get("Deployment", "edge-gateway") is None
    assert memory.count("get") == 0


def test_an_apply_and_a_delete_are_read_back_at_once_without_a_watch() -> None:
    memory = MemoryCluster()
    cluster = cached(memory, synced=True)

    applied = cluster.apply(manifests()["Deployment"])
    live = cluster.get("Deployment", "edge-gateway")
    assert live is not None and live["metadata"]["uid"] == applied["metadata"]["uid"]

    cluster.delete("Deployment", "edge-gateway")
    assert cluster.get("Deployment", "edge-gateway") is None


def test_an_apply_over_an_object_without_our_labels_is_refused_after_a_get_by_name() -> None:
    memory = MemoryCluster()
    foreign = manifests()["Service"]
    foreign["metadata"]["labels"] = {"app": "theirs"}
    memory.put_foreign(foreign)
    cluster = cached(memory, synced=True)

    with pytest.raises(ForeignObject):
        cluster.apply(manifests()["Service"])
    assert memory.count("get", "Service") == 1
    assert memory.count("apply") == 0


def test_an_object_in_the_cache_is_applied_without_a_get() -> None:
    memory = MemoryCluster()
    memory.apply(manifests()["Service"])
    cluster = cached(memory, synced=True)

    cluster.apply(manifests()["Service"])

    assert memory.count("get") == 0
