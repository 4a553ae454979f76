"""The watch half of the cluster contract, against every adapter: the in-memory cluster, the
Kubernetes adapter over the API server emulator and (with OUTBOX_TEST_KUBECONFIG) a real cluster.

An informer lists and watches through the port; the tests change the cluster and check what it
hears. Watches run on threads of their own, so the tests wait for what they expect to hear.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provisioner.cluster.informer import Informer
from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import ADDED, DELETED, MODIFIED, WatchableCluster, WatchEvent
from provisioner.manifests import desired_objects
from tests.support.cluster_harness import EmulatorHarness, Harness, MemoryHarness
from tests.support.gateways import make_gateway
from tests.support.waiting import wait_until

NAME = "edge-gateway"


class Listening:
    """An informer over the harness's cluster, with everything it told its listener."""

    def __init__(self, cluster: WatchableCluster) -> None:
        self.heard: list[WatchEvent] = []
        self.relists = 0
        self.backing_off = threading.Event()  # set while the informer waits to watch again
        self.go_on = threading.Event()
        self.go_on.set()
        self.informer = Informer(
            cluster,
            ObjectCache(),
            timeout_seconds=30,
            backoff=self._backoff,
            on_relist=self._relisted,
        )
        self.informer.subscribe(self.heard.append)

    def _backoff(self, attempt: int) -> float:
        self.backing_off.set()
        self.go_on.wait(30)
        self.backing_off.clear()
        return 0.0

    def _relisted(self, kind: str) -> None:
        self.relists += 1

    def seen(self, kind: str) -> list[tuple[str, str]]:
        return [(event.type, event.name) for event in list(self.heard) if event.kind == kind]


def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    wait_until(condition, timeout=timeout, interval=0.02)


def service(**labels: str) -> dict[str, Any]:
    gateway = make_gateway("edge", host="edge.example.com")
    manifest = next(
        m
        for m in desired_objects(gateway, namespace="gateways", start_timeout_seconds=60)
        if m["kind"] == "Service"
    )
    manifest["metadata"]["labels"].update(labels)
    return manifest


def faults(harness: Harness) -> tuple[Callable[[], None], Callable[[], None]]:
    """(drop every open watch, forget the change history) for adapters that can be told so."""
    if isinstance(harness, MemoryHarness):
        return harness.memory.drop_watches, harness.memory.expire_history
    if isinstance(harness, EmulatorHarness):
        return harness.emulator.drop_watches, harness.emulator.expire_history
    pytest.skip("a real cluster cannot be told to drop watches or forget its history")


def remove_behind_its_back(harness: Harness, kind: str, name: str) -> None:
    if isinstance(harness, MemoryHarness):
        harness.memory.remove(kind, name)
    elif isinstance(harness, EmulatorHarness):
        harness.emulator.remove(kind, name, harness.cluster.namespace)
    else:
        harness.cluster.delete(kind, name)


@pytest.fixture
def listening(harness: Harness) -> Iterator[Listening]:
    watching = Listening(harness.cluster)  # type: ignore[arg-type]
    watching.informer.start()
    assert watching.informer.wait_synced(30), "every kind is listed once"
    yield watching
    watching.go_on.set()
    watching.informer.stop()


def test_a_watch_reports_objects_added_modified_and_deleted(
    harness: Harness, listening: Listening
) -> None:
    harness.cluster.apply(service())
    eventually(lambda: (ADDED, NAME) in listening.seen("Service"))

    harness.cluster.apply(service(team="payments"))
    eventually(lambda: (MODIFIED, NAME) in listening.seen("Service"))
    cached = listening.informer.cache.get("Service", NAME)
    assert cached is not None and cached["metadata"]["labels"]["team"] == "payments"

    harness.cluster.delete("Service", NAME)
    eventually(lambda: (DELETED, NAME) in listening.seen("Service"))
    assert listening.informer.cache.get("Service", NAME) is None


def test_the_first_list_fills_the_cache_with_what_is_there(harness: Harness) -> None:
    harness.cluster.apply(service())
    watching = Listening(harness.cluster)  # type: ignore[arg-type]
    watching.informer.start()
    try:
        assert watching.informer.wait_synced(30)
        assert watching.informer.cache.get("Service", NAME) is not None
    finally:
        watching.informer.stop()


def test_after_410_gone_a_relist_notices_the_delete_the_watch_missed(
    harness: Harness, listening: Listening
) -> None:
    drop, forget = faults(harness)
    harness.cluster.apply(service())
    eventually(lambda: listening.informer.cache.get("Service", NAME) is not None)

    # Given a watch that is down while the object goes and the history is forgotten
    listening.go_on.clear()
    drop()
    assert listening.backing_off.wait(15)
    remove_behind_its_back(harness, "Service", NAME)
    forget()

    # When it resumes from its last version, the server answers 410 Gone
    listening.go_on.set()

    # Then it lists again, and reports the delete it missed
    eventually(lambda: (DELETED, NAME) in listening.seen("Service"))
    assert listening.relists >= 1
    assert listening.informer.cache.get("Service", NAME) is None


def test_after_a_dropped_connection_the_watch_resumes_from_its_last_version(
    harness: Harness, listening: Listening
) -> None:
    drop, _ = faults(harness)
    # The Service watch is open once it has told of a change (a sync says only that the lists
    # are done): a drop before that would find no watch to drop.
    harness.cluster.apply(service())
    harness.cluster.delete("Service", NAME)
    eventually(lambda: (DELETED, NAME) in listening.seen("Service"))
    listening.heard.clear()
    listening.go_on.clear()
    drop()
    assert listening.backing_off.wait(15)
    harness.cluster.apply(service())  # while nobody watches

    listening.go_on.set()

    eventually(lambda: (ADDED, NAME) in listening.seen("Service"))
    assert listening.relists == 0, "resumed from its version, not listed again"


def test_objects_without_our_label_are_never_reported(
    harness: Harness, listening: Listening
) -> None:
    foreign = service()
    foreign["metadata"]["name"] = "somebody-elses"
    foreign["metadata"]["labels"] = {"app": "theirs"}
    harness.put_foreign(foreign)
    harness.cluster.apply(service())  # ours, after theirs

    eventually(lambda: (ADDED, NAME) in listening.seen("Service"))
    assert "somebody-elses" not in [name for _, name in listening.seen("Service")]
    assert listening.informer.cache.get("Service", "somebody-elses") is None
