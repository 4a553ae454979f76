"""`GET /v1/gateways/{ref}/wait`: the long poll with the command line's wait rule, on fake time."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from outbox.domain.model import Phase, State
from outbox.store.memory.store import MemoryStore
from outbox.store.port import GATEWAYS
from tests.support.api import Api, build_api, fake_sleep
from tests.support.clock import FakeClock


def provision(store: Any, name: str, **fields: Any) -> None:
    """What the provisioner would commit: the phase it reached, with its version bump."""
    document = store.collection(GATEWAYS).find_one({"name": name})
    update = {"version": document["version"] + 1, **fields}
    store.collection(GATEWAYS).update_one({"_id": document["_id"]}, {"$set": update})


def started(store: Any, name: str) -> None:
    provision(store, name, phase=str(Phase.STARTED), applied_spec_version=1, at_rest=True)


def wait(api: Api, ref: str, **params: Any) -> Any:
    return api.client.get(f"/v1/gateways/{ref}/wait", params=params, headers=api.headers())


def test_a_gateway_that_reaches_the_phase_is_met(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    sleeps: list[float] = []

    def provisioner_step() -> None:
        sleeps.append(clock.now.timestamp())
        if len(sleeps) == 3:  # after three polls the provisioner reports Started
            started(memory_store, "edge")

    api = build_api(memory_store, clock, sleep=fake_sleep(clock, provisioner_step))
    version = api.create("edge").json()["version"]

    response = wait(api, "edge", **{"for": "phase=Started", "version": version, "timeout": 30})

    assert response.status_code == 200
    body = response.json()
    assert (body["met"], body["verdict"]) == (True, "met")
    assert body["gateway"]["phase"] == "Started"
    assert len(sleeps) == 3


def test_the_timeout_passes_with_met_false_and_the_gateway_as_last_read(api: Api) -> None:
    api.create("edge")
    start = api.clock.now

    response = wait(api, "edge", **{"for": "phase=Started", "timeout": 12})

    body = response.json()
    assert response.status_code == 200
    assert (body["met"], body["verdict"]) == (False, "pending")
    assert body["gateway"]["phase"] == "Created"
    assert (api.clock.now - start).total_seconds() == 12


def test_a_gateway_that_settles_elsewhere_is_not_met(api: Api) -> None:
    api.create("edge")
    provision(
        api.store,
        "edge",
        state=str(State.STOPPED),
        phase=str(Phase.STOPPED),
        last_error={"reason": "StartTimeout", "message": "gave up", "at": api.clock.now},
        at_rest=True,
    )

    body = wait(api, "edge", **{"for": "phase=Started", "timeout": 30}).json()

    assert (body["met"], body["verdict"]) == (False, "elsewhere")


def test_version_waits_for_the_change_that_made_it(api: Api) -> None:
    api.create("edge")
    started(api.store, "edge")  # at rest, Started, version 2
    stop = api.client.post("/v1/gateways/edge/stop", headers=api.headers()).json()

    older = wait(api, "edge", **{"for": "phase=Started", "version": 1, "timeout": 5}).json()
    newer = wait(
        api, "edge", **{"for": "phase=Stopped", "version": stop["version"], "timeout": 5}
    ).json()

    assert older["met"] is False  # the stop is pending: not at rest
    assert newer["verdict"] == "pending"


def test_a_deleted_gateway_that_disappears_meets_phase_deleted(
    memory_store: MemoryStore, clock: FakeClock
) -> None:
    def expire() -> None:
        memory_store.collection(GATEWAYS).delete_many({})

    api = build_api(memory_store, clock, sleep=fake_sleep(clock, expire))
    api.create("edge")
    api.client.delete("/v1/gateways/edge", headers=api.headers())

    body = wait(api, "edge", **{"for": "phase=Deleted", "timeout": 10}).json()

    assert (body["met"], body["gateway"]) == (True, None)


def test_waits_beyond_the_cap_get_429(memory_store: MemoryStore, clock: FakeClock) -> None:
    waiting, release = threading.Event(), threading.Event()

    async def held_sleep(seconds: float) -> None:
        waiting.set()  # the first wait holds its slot from here on
        while not release.is_set():
            await asyncio.sleep(0.01)
        clock.advance(seconds)

    api = build_api(memory_store, clock, sleep=held_sleep, api_max_waits=1)
    api.create("edge")
    params = {"for": "phase=Started", "timeout": 30}
    with TestClient(api.app) as client, ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(
            client.get, "/v1/gateways/edge/wait", params=params, headers=api.headers()
        )
        assert waiting.wait(30)
        refused = client.get("/v1/gateways/edge/wait", params=params, headers=api.headers())
        release.set()
        finished = first.result(timeout=30)

    assert refused.status_code == 429
    assert refused.json()["type"] == "urn:outbox:problem:too-many-waits"
    assert refused.headers["Retry-After"] == "1"
    assert finished.status_code == 200
