"""Fixtures of the HTTP API tests: an app on the in-memory store, on the fake clock."""

from __future__ import annotations

import pytest

from outbox.store.memory.store import MemoryStore
from tests.support.api import Api, build_api
from tests.support.clock import FakeClock


@pytest.fixture
def api(memory_store: MemoryStore, clock: FakeClock) -> Api:
    return build_api(memory_store, clock)
