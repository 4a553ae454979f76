"""The cluster cache's rules, table by table: a copy never replaces a newer one, a deletion is
remembered against late events, and a fresh list reports what the watch missed."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import ADDED, DELETED, MODIFIED, WatchEvent


def service(name: str = "edge-gateway", version: Any = "5", **labels: str) -> dict[str, Any]:
    metadata = {"name": name, "resourceVersion": str(version), "labels": labels}
    return {"kind": "Service", "metadata": metadata}


@pytest.mark.parametrize(
    ("held", "arriving", "kept"),
    [("5", "6", "6"), ("6", "5", "6"), ("6", "6", "6"), ("10", "9", "10"), ("9", "10", "10")],
)
def test_a_watch_event_never_replaces_a_newer_copy(held: str, arriving: str, kept: str) -> None:
    cache = ObjectCache()
    cache.put(service(version=held))

    cache.apply(WatchEvent(MODIFIED, "Service", service(version=arriving)))

    live = cache.get("Service", "edge-gateway")
    assert live is not None and live["metadata"]["resourceVersion"] == kept


def test_a_copy_whose_version_is_not_an_integer_counts_as_the_newer() -> None:
    cache = ObjectCache()
    cache.put(service(version="7"))

    assert cache.put(service(version="opaque"))


def test_an_event_from_before_a_deletion_does_not_bring_the_object_back() -> None:
    cache = ObjectCache()
    cache.put(service(version="5"))
    cache.remove("Service", "edge-gateway")  # our own delete: read-your-writes

    cache.apply(WatchEvent(MODIFIED, "Service", service(version="5")))
    assert cache.get("Service", "edge-gateway") is None

    cache.apply(WatchEvent(ADDED, "Service", service(version="9")))  # created again
    assert cache.get("Service", "edge-gateway") is not None


def test_a_late_delete_event_leaves_a_newer_object_of_the_same_name() -> None:
    cache = ObjectCache()
    cache.put(service(version="9"))

    cache.apply(WatchEvent(DELETED, "Service", service(version="7")))

    assert cache.get("Service", "edge-gateway") is not None


def test_a_fresh_list_reports_what_was_deleted_added_and_changed_in_between() -> None:
    cache = ObjectCache()
    cache.replace("Service", [service("gone", 1), service("same", 2), service("changed", 3)])

    missed = cache.replace(
        "Service", [service("same", 2), service("changed", 8), service("new", 9)]
    )

    assert sorted((event.type, event.name) for event in missed) == [
        (ADDED, "new"),
        (DELETED, "gone"),
        (MODIFIED, "changed"),
    ]
    assert cache.get("Service", "gone") is None
    assert cache.synced("Service") and not cache.synced("Deployment")
