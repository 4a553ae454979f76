"""Lease records: parsed from their document, judged held or free at a given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outbox.coordination.leases import LeaseRecord, parse_lease

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_lease_document_parses_into_its_record_with_an_aware_expiry() -> None:
    document = {
        "_id": "relay:events",
        "owner": "a",
        "token": 7,
        "expires_at": NOW.replace(tzinfo=None),
    }

    assert parse_lease(document) == LeaseRecord("relay:events", "a", 7, NOW)


@pytest.mark.parametrize(
    ("fields", "record"),
    [
        ({}, LeaseRecord("l", None, 0, None)),
        ({"owner": 3, "token": "x", "expires_at": "soon"}, LeaseRecord("l", None, 0, None)),
        ({"token": True}, LeaseRecord("l", None, 0, None)),
        ({"token": 5.0}, LeaseRecord("l", None, 5, None)),
    ],
    ids=["empty", "wrong types", "a bool is no token", "a whole float is"],
)
def test_a_damaged_lease_document_reads_as_a_free_lease(
    fields: dict[str, Any], record: LeaseRecord
) -> None:
    assert parse_lease({"_id": "l", **fields}) == record


@pytest.mark.parametrize(
    ("owner", "expires_in", "holder"),
    [
        ("a", 10, "a"),
        ("a", 0, None),  # expiring at `now` is expired
        ("a", -1, None),
        (None, 10, None),  # released
    ],
)
def test_a_lease_is_held_by_its_owner_until_it_expires(
    owner: str | None, expires_in: float, holder: str | None
) -> None:
    record = LeaseRecord("l", owner, 1, NOW + timedelta(seconds=expires_in))

    assert record.holder_at(NOW) == holder
    assert record.held_at(NOW) is (holder is not None)


def test_a_lease_without_an_expiry_is_free() -> None:
    assert not LeaseRecord("l", "a", 1, None).held_at(NOW)
