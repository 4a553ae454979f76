"""The nx-27017 quirks the MongoDB adapter undoes, as pure rules: which server gets them, which
filters are rewritten, which text turns back into dates. (The contract suite shows the effect on
a live nx-27017.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from outbox.store.mongo.quirks import NO_QUIRKS, quirks_of

NX = quirks_of({"ok": 1, "version": "7.0.0", "process": "nx_27017"})


def test_only_nx_27017_gets_its_quirks_undone() -> None:
    assert quirks_of({"ok": 1, "version": "7.0.14", "gitVersion": "ce59cfc"}) is NO_QUIRKS
    assert NX.null_equality and NX.dates_as_text


@pytest.mark.parametrize(
    ("filter", "find", "sent"),
    [
        ({"published_at": None}, False, {"published_at": {"$in": [None]}}),
        ({"published_at": None}, True, {"published_at": None}),
        (
            {"published_at": None, "$nor": [{"a": None, "v": 1}]},
            True,
            {"published_at": {"$in": [None]}, "$nor": [{"a": {"$in": [None]}, "v": 1}]},
        ),
        ({"retry": {"$ne": None}, "n": 1}, False, {"retry": {"$ne": None}, "n": 1}),
    ],
    ids=["count or update", "plain find", "find next to $nor", "no null equality"],
)
def test_null_equalities_are_sent_as_in_null_where_nx_gets_them_wrong(
    filter: dict[str, Any], find: bool, sent: dict[str, Any]
) -> None:
    assert NX.filter(filter, find=find) == sent
    assert NO_QUIRKS.filter(filter, find=find) is filter


@pytest.mark.parametrize(
    ("filter", "by_match"),
    [
        ({"published_at": None, "parked": {"$ne": True}}, True),
        ({"published_at": None, "$nor": [{"a": "g"}]}, False),
        ({"phase": "Started"}, False),
        ({"retry.next_at": {"$gt": 1}}, False),
    ],
    ids=["null equality", "next to $nor", "no null", "no null equality"],
)
def test_only_counts_of_a_null_equality_without_logical_operators_go_by_match(
    filter: dict[str, Any], by_match: bool
) -> None:
    # count_documents reads every document for the `$in: [None]` form; `$match` gets `$nor` wrong
    assert NX.count_by_match(filter) is by_match
    assert NO_QUIRKS.count_by_match(filter) is False


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("2026-01-01 12:00:00.123000", datetime(2026, 1, 1, 12, 0, 0, 123000)),
        ("2026-01-01 12:00:00", datetime(2026, 1, 1, 12, 0)),
        ("2026-01-01T12:00:00", "2026-01-01T12:00:00"),
        ("2026-01-01", "2026-01-01"),
        ("failed at 2026-01-01 12:00:00", "failed at 2026-01-01 12:00:00"),
        (7, 7),
    ],
)
def test_only_the_text_sqlite_makes_of_a_date_reads_back_as_a_date(stored: Any, read: Any) -> None:
    assert NX.document({"_id": "a", "field": stored}) == {"_id": "a", "field": read}
    assert NO_QUIRKS.document({"_id": "a", "field": stored}) == {"_id": "a", "field": stored}


def test_dates_inside_sub_documents_are_left_alone() -> None:
    # nx-27017 keeps those as dates; text there (an event payload) is the writer's own.
    document = {"_id": "a", "payload": {"at": "2026-01-01 12:00:00"}}

    assert NX.document(document) == document
