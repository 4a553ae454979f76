"""The high-water marks of the stream port, against every adapter: exactly once without a
window, seeding a stream written before the marks, and redelivery out of order."""

from __future__ import annotations

import pytest

from outbox.stream import EventStream, Fenced, MarksUnseeded
from tests.support.stream_harness import Harness, event


def ids_in(stream: EventStream) -> list[str]:
    return [fields["event_id"] for _, fields in stream.entries()]


def written_before_the_marks(harness: Harness) -> EventStream:
    """A stream holding entries its marks know nothing of, as an older release left it."""
    stream = harness.stream()
    for version in (1, 2):
        stream.add(event("gw_old", version).stream_fields())  # type: ignore[union-attr]
    return stream


def test_an_event_at_or_below_its_gateways_mark_is_skipped_whatever_its_id(
    harness: Harness,
) -> None:
    stream = harness.stream()
    stream.publish([event("gw_1", 1), event("gw_1", 3)], token=1)

    # Another id at a version already covered (a restored backup, a re-created event).
    replies = stream.publish([event("gw_1", 2), event("gw_1", 3), event("gw_2", 1)], token=1)

    assert [(p.duplicate, p.published) for p in replies] == [
        (True, True),
        (True, True),
        (False, True),
    ]
    assert len(ids_in(stream)) == 3
    assert stream.marks(["gw_1", "gw_2", "gw_3"]) == {"gw_1": 3, "gw_2": 1}


def test_a_rejected_event_raises_no_mark(harness: Harness) -> None:
    stream = harness.stream(max_entry_bytes=2048)

    stream.publish([event("gw_a", 1, payload={"blob": "x" * 4096})], token=1)

    assert stream.marks(["gw_a"]) == {}


def test_a_stream_with_entries_and_no_marks_refuses_to_publish_until_they_are_seeded(
    harness: Harness,
) -> None:
    stream = written_before_the_marks(harness)

    with pytest.raises(MarksUnseeded):
        stream.publish([event("gw_old", 2), event("gw_old", 3)], token=4)
    assert len(ids_in(stream)) == 2

    record = stream.published_record(token=4)
    assert record.versions == {"gw_old": 2}
    stream.seed_marks(record.versions, token=4)
    replies = stream.publish([event("gw_old", 2), event("gw_old", 3)], token=4)

    assert [p.duplicate for p in replies] == [True, False]
    assert [f["version"] for _, f in stream.entries()] == ["1", "2", "3"]


def test_the_refused_publish_fences_older_relays_before_seeding(harness: Harness) -> None:
    stream = written_before_the_marks(harness)
    with pytest.raises(MarksUnseeded):
        stream.publish([event("gw_old", 3)], token=9)

    with pytest.raises(Fenced):
        stream.seed_marks({"gw_old": 2}, token=8)
    with pytest.raises(Fenced):
        stream.publish([event("gw_old", 3)], token=8)


def test_seeding_never_lowers_a_mark(harness: Harness) -> None:
    stream = harness.stream()
    stream.publish([event("gw_1", 5)], token=1)

    stream.seed_marks({"gw_1": 2, "gw_2": 7}, token=1)

    assert stream.marks(["gw_1", "gw_2"]) == {"gw_1": 5, "gw_2": 7}


def test_an_empty_stream_made_by_the_consumer_group_needs_no_seeding(harness: Harness) -> None:
    consumer = harness.stream(group="provisioner", consumer="p1")
    consumer.ensure_group()

    [publication] = harness.stream().publish([event("gw_1", 1)], token=1)

    assert publication.entry_id is not None


def test_a_redelivered_event_is_a_new_entry_marked_as_such_and_moves_no_mark(
    harness: Harness,
) -> None:
    stream = harness.stream()
    old, newer = event("gw_1", 1), event("gw_1", 2)
    stream.publish([old, newer], token=1)

    [entry_id] = stream.redeliver([old])

    entries = dict(stream.entries())
    assert entries[entry_id] == {**old.stream_fields(), "redelivered": "1"}
    assert stream.marks(["gw_1"]) == {"gw_1": 2}
    assert stream.publish([old], token=1)[0].duplicate
