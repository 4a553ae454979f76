"""The HTTP API in a test: an app on a store, a token per role, and a client that sends them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from outbox.store.port import GATEWAYS, IDEMPOTENCY_KEYS, OUTBOX, Collections, Store, T
from outbox_api.app import create_app
from outbox_api.settings import ApiSettings
from outbox_api.tokens import Role, Tokens
from tests.support.clock import FakeClock, monotonic_of
from tests.support.stores import DelegatingStore

SPEC = {"image": "nginx:1.27"}


def settings(**overrides: Any) -> ApiSettings:
    """The API's settings with their defaults, never read from the environment."""
    return ApiSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def answers_ready(base: str) -> bool:
    """Whether the API process at `base` answers `/readyz` with 200 (not up yet: False)."""
    try:
        return httpx.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


Sleep = Callable[[float], Awaitable[None]]


def fake_sleep(clock: FakeClock, then: Callable[[], object] = lambda: None) -> Sleep:
    """A sleep that moves the fake clock (and then does `then`, as a provisioner would)."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        then()
        await asyncio.sleep(0)

    return sleep


@dataclass
class Api:
    """One app instance (a replica) on a shared store, with bearer tokens of each role."""

    store: Store
    clock: FakeClock
    app: FastAPI
    client: TestClient
    bearers: dict[Role, str] = field(default_factory=dict)

    def headers(self, role: Role = Role.ADMIN, **extra: str) -> dict[str, str]:
        headers = auth(self.bearers[role])
        headers.update({key.replace("_", "-"): value for key, value in extra.items()})
        return headers

    def create(self, name: str = "edge", **body: Any) -> Any:
        """Create a gateway as a writer; returns the response."""
        payload = {"name": name, "spec": SPEC, **body}
        return self.client.post("/v1/gateways", json=payload, headers=self.headers(Role.WRITER))


def build_api(
    store: Store,
    clock: FakeClock,
    *,
    bearers: dict[Role, str] | None = None,
    sleep: Sleep | None = None,
    **overrides: Any,
) -> Api:
    """An app on `store` (tokens for each role made unless given), on the fake clock."""
    app = create_app(
        store,
        settings=settings(**overrides),
        clock=clock,
        monotonic=monotonic_of(clock),
        sleep=sleep or fake_sleep(clock),
    )
    if bearers is None:
        tokens = Tokens(store, clock=clock)
        bearers = {role: tokens.create(f"test-{role}", role).bearer for role in Role}
    return Api(store, clock, app, TestClient(app, raise_server_exceptions=False), bearers)


def counts(store: Store) -> dict[str, int]:
    """Documents in the collections a write touches: equal before and after means no write."""
    return {name: store.collection(name).count_documents({}) for name in (GATEWAYS, OUTBOX)} | {
        IDEMPOTENCY_KEYS: store.collection(IDEMPOTENCY_KEYS).count_documents({})
    }


class GatedStore(DelegatingStore):
    """Once `gate(parties)` is called, holds each transaction at the door until `parties` of
    them wait there (or `open()`), so that requests are truly in flight together."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self._barrier: threading.Barrier | None = None
        self.arrived = threading.Event()

    def gate(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=30)

    def transaction(self, work: Callable[[Collections], T]) -> T:
        self.arrived.set()
        if self._barrier is not None:
            with contextlib.suppress(threading.BrokenBarrierError):  # opened: go ahead alone
                self._barrier.wait()
        return self.inner.transaction(work)

    def open(self) -> None:
        if self._barrier is not None:
            self._barrier.abort()


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads at once; their results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result(timeout=60) for future in [pool.submit(call) for call in calls]]
