"""The Kubernetes adapter keeps one connection per worker: a pool smaller than the worker pool
makes urllib3 discard connections under load ("Connection pool is full") and reconnect."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import yaml

from provisioner.cluster.kubernetes import KubernetesCluster
from tests.support.cluster_harness import NAMESPACE
from tests.support.k8s_emulator import ApiServerEmulator

POOL_FULL = "Connection pool is full"


def kubeconfig_for(emulator: ApiServerEmulator, path: Path) -> str:
    cluster = {"server": emulator.url}
    context = {"cluster": "emulator", "user": "tester"}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulator", "cluster": cluster}],
                "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "test", "context": context}],
                "current-context": "test",
            }
        )
    )
    return str(path)


def test_thirty_two_workers_calling_at_once_keep_their_connections_for_reuse(
    emulator: ApiServerEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the adapter built for 32 workers, and an API server slow enough that all their
    # calls are in flight at once
    workers = 32
    cluster = KubernetesCluster.from_config(
        NAMESPACE, kubeconfig=kubeconfig_for(emulator, tmp_path / "config"), workers=workers
    )
    for _ in range(workers):
        emulator.delay_next(0.3, method="GET")
    together = threading.Barrier(workers)

    def call() -> None:
        together.wait()
        cluster.get("Deployment", "edge-gateway")

    # When every worker calls at the same moment
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        threads = [threading.Thread(target=call) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    # Then all calls went out together and no connection was thrown away afterwards
    assert len(emulator.requests_for("GET")) == workers
    assert not [record for record in caplog.records if POOL_FULL in record.getMessage()]
    cluster.close()
