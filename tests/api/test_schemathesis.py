"""Property tests from the OpenAPI document (schemathesis): whatever a client sends, the API
never answers 5xx, every answer matches the document, and a bad token writes nothing.

Bounded so the whole module stays well under a minute: a few examples per operation, derandomized
(the same examples every run, so a failure reproduces).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from outbox.store.memory.store import MemoryStore
from outbox_api.tokens import Role
from tests.support.api import Api, auth, build_api, counts
from tests.support.clock import FakeClock

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def seeded() -> Api:
    """An app with one gateway, so that some generated references exist."""
    api = build_api(MemoryStore(), FakeClock(), api_max_waits=4)
    api.create("edge")
    return api


# The committed document (a test keeps it equal to the app's); each test sends to its own app.
schema = schemathesis.openapi.from_path(str(Path(__file__).resolve().parents[2] / "openapi.json"))


@schema.parametrize()
@BOUNDED
def test_no_5xx_and_every_answer_matches_the_document(case: Any, seeded: Api) -> None:
    if case.path.endswith("/wait"):
        case.query = {**(case.query or {}), "timeout": 0}  # the fake clock would spin otherwise
    case.call_and_validate(headers=auth(seeded.bearers[Role.ADMIN]), checks=CHECKS, app=seeded.app)


@schema.parametrize()
@BOUNDED
def test_requests_with_a_bad_token_write_nothing(case: Any, seeded: Api) -> None:
    before = counts(seeded.store)
    forged = seeded.bearers[Role.ADMIN][:-4] + "AAAA"

    response = case.call(headers=auth(forged), app=seeded.app)

    # The coverage phase also sends methods a path does not have: those are refused first.
    undocumented = case.method.upper() != case.operation.method.upper()
    assert response.status_code == (405 if undocumented else 401), response.text
    assert counts(seeded.store) == before
