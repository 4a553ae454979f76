"""Fixtures for the cluster side: gateways to render, the API server emulator, and one harness per
cluster adapter so a single contract suite runs against all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from outbox.domain.model import Gateway
from tests.support.cluster_harness import (
    REAL_KUBECONFIG,
    EmulatorHarness,
    Harness,
    MemoryHarness,
    RealHarness,
)
from tests.support.gateways import make_gateway
from tests.support.k8s_emulator import ApiServerEmulator


@pytest.fixture
def emulator() -> Iterator[ApiServerEmulator]:
    server = ApiServerEmulator().start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "kubernetes-emulator", "kubernetes-real"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Each cluster adapter in turn: the contract suite runs against all of them."""
    if request.param == "memory":
        yield MemoryHarness()
    elif request.param == "kubernetes-emulator":
        yield EmulatorHarness(request.getfixturevalue("emulator"))
    else:
        if not REAL_KUBECONFIG:
            pytest.skip(
                "set OUTBOX_TEST_KUBECONFIG to a kubeconfig of a disposable cluster to run the "
                "cluster contract against real Kubernetes"
            )
        real = RealHarness(REAL_KUBECONFIG)
        yield real
        real.close()


@pytest.fixture
def gateway_factory() -> Callable[..., Gateway]:
    return make_gateway
