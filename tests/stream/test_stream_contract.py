"""The stream port's contract, run against redis-server and the in-memory stream alike."""

from __future__ import annotations

import itertools
import threading

import pytest

from outbox.domain.errors import InvalidInput, NotFound
from outbox.stream import EventStream, Fenced, StreamUnavailable
from tests.support.stream_harness import STREAM, Harness, event

DLQ = "{events:gateway}:dlq"
_VERSIONS = itertools.count(1)


def ids_in(stream: EventStream) -> list[str]:
    return [fields["event_id"] for _, fields in stream.entries()]


def consumer(harness: Harness, name: str, **config: object) -> EventStream:
    stream = harness.stream(group="provisioner", consumer=name, **config)
    stream.ensure_group()
    return stream


def published(stream: EventStream, count: int, gateway: str = "gw_1") -> list[str]:
    """`count` events of one gateway published; their entry ids."""
    publications = stream.publish([event(gateway, v) for v in range(1, count + 1)], token=1)
    return [str(p.entry_id) for p in publications]


# -- publishing -------------------------------------------------------------------------------


def test_a_batch_lands_in_the_stream_in_order_with_the_contract_fields(harness: Harness) -> None:
    stream = harness.stream()
    events = [event("gw_1", 1, payload={"image": "nginx:1.27"}), event("gw_2", 1), event("gw_1", 2)]

    publications = stream.publish(events, token=1)

    assert [p.published and not p.duplicate for p in publications] == [True, True, True]
    entries = stream.entries()
    assert [entry_id for entry_id, _ in entries] == [p.entry_id for p in publications]
    assert [fields["event_id"] for _, fields in entries] == [e.id for e in events]
    assert entries[0][1] == {
        "event_id": events[0].id,
        "type": "GatewayCreated",
        "aggregate_type": "gateway",
        "aggregate_id": "gw_1",
        "version": "1",
        "occurred_at": "2026-01-01T12:00:00Z",
        "payload": '{"image":"nginx:1.27"}',
    }


def test_publishing_an_event_again_adds_no_second_entry(harness: Harness) -> None:
    stream = harness.stream()
    first, second = event("gw_1", 1), event("gw_1", 2)
    [before] = stream.publish([first], token=1)

    publications = stream.publish([first, second], token=1)

    assert before.entry_id and publications[0].duplicate and publications[0].published
    assert not publications[1].duplicate
    assert ids_in(stream) == [first.id, second.id]


def test_an_event_published_again_thirty_days_later_is_still_skipped(harness: Harness) -> None:
    stream = harness.stream()
    one, two = event("gw_1", 1), event("gw_1", 2)
    stream.publish([one, two], token=1)
    harness.pass_time(30 * 86_400)

    again = stream.publish([one, two], token=1)

    assert [p.duplicate and p.published for p in again] == [True, True]
    assert ids_in(stream) == [one.id, two.id]


def test_a_rejected_event_is_not_overtaken_by_the_next_one_of_its_gateway(
    harness: Harness,
) -> None:
    stream = harness.stream(max_entry_bytes=2048)
    a1, b1, a2 = event("gw_a", 1, payload={"blob": "x" * 4096}), event("gw_b", 1), event("gw_a", 2)

    rejected, other, follower = stream.publish([a1, b1, a2], token=1)

    assert rejected.error is not None and rejected.error.startswith("TOOLARGE")
    assert not rejected.published
    assert other.published
    assert follower.held and not follower.published
    assert ids_in(stream) == [b1.id]
    # Nothing remembered for the two that did not go: a later attempt may publish them.
    retried = stream.with_config(stream.config.__class__(stream=STREAM))
    assert all(p.entry_id for p in retried.publish([a1, a2], token=1))


def test_a_relay_with_an_older_lease_token_is_refused_once_a_newer_one_published(
    harness: Harness,
) -> None:
    stream = harness.stream()
    stream.publish([event("gw_1", 1)], token=7)

    with pytest.raises(Fenced):
        stream.publish([event("gw_1", 2)], token=6)
    assert len(ids_in(stream)) == 1
    assert stream.publish([event("gw_1", 2)], token=7)[0].published


def test_the_stream_is_trimmed_to_about_maxlen_never_below(harness: Harness) -> None:
    stream = harness.stream(maxlen=100)

    for start in range(0, 1000, 250):
        stream.publish([event("gw_1", v) for v in range(start + 1, start + 251)], token=1)

    # Redis's `~` trims whole macro nodes (100 entries each by default): close to maxlen.
    assert 100 <= len(stream.entries()) < 300
    assert stream.entries()[-1][1]["version"] == "1000"


def test_nothing_to_publish_is_no_call(harness: Harness) -> None:
    assert harness.stream().publish([], token=1) == []


# -- the consumer group -----------------------------------------------------------------------


def test_a_group_created_after_publishing_reads_every_entry_once(harness: Harness) -> None:
    publisher = harness.stream()
    entry_ids = published(publisher, 3)
    p1 = consumer(harness, "p1")
    p1.ensure_group()  # twice is fine

    first = p1.read_new(count=2, block_ms=None)
    rest = p1.read_new(count=10, block_ms=None)

    assert [entry_id for entry_id, _ in first + rest] == entry_ids
    assert p1.read_new(count=10, block_ms=None) == []


def test_a_group_that_vanished_is_recreated_and_read_from_the_start(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    harness.stream().delete_stream()  # type: ignore[attr-defined]
    entry_ids = published(harness.stream(), 2)

    assert [entry_id for entry_id, _ in p1.read_new(count=10, block_ms=None)] == entry_ids


def test_a_blocking_read_returns_what_is_published_meanwhile(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    timer = threading.Timer(0.1, lambda: published(harness.stream(), 1))
    timer.start()
    try:
        entries = p1.read_new(count=10, block_ms=5000)
    finally:
        timer.join()
    assert len(entries) == 1


def test_a_blocking_read_with_nothing_new_returns_nothing(harness: Harness) -> None:
    assert consumer(harness, "p1").read_new(count=10, block_ms=50) == []


def test_own_pending_entries_are_claimed_again_with_their_delivery_count(
    harness: Harness,
) -> None:
    p1 = consumer(harness, "p1")
    entry_ids = published(harness.stream(), 2)
    p1.read_new(count=10, block_ms=None)

    claimed = p1.claim_own_pending(count=10)

    assert [(c.entry_id, c.deliveries) for c in claimed] == [(i, 2) for i in entry_ids]
    assert all(c.fields and c.fields["aggregate_id"] == "gw_1" for c in claimed)


def test_the_pending_entries_of_a_dead_consumer_are_taken_over_at_once(harness: Harness) -> None:
    p1, p2 = consumer(harness, "p1"), consumer(harness, "p2")
    entry_ids = published(harness.stream(), 3)
    p1.read_new(count=10, block_ms=None)

    claimed = p2.claim_pending_of("p1", count=10)

    assert [c.entry_id for c in claimed] == entry_ids
    pending = {info.name: info.pending for info in p2.consumers()}
    assert pending == {"p1": 0, "p2": 3}
    p2.remove_consumer("p1")
    assert [info.name for info in p2.consumers()] == ["p2"]


def test_entries_idle_long_enough_are_reclaimed_by_another_consumer(harness: Harness) -> None:
    p1, p2 = consumer(harness, "p1"), consumer(harness, "p2")
    [entry_id] = published(harness.stream(), 1)
    p1.read_new(count=10, block_ms=None)

    assert p2.reclaim_idle(min_idle_ms=200, count=10) == []
    harness.pass_time(0.3)
    [claimed] = p2.reclaim_idle(min_idle_ms=200, count=10)

    assert (claimed.entry_id, claimed.deliveries) == (entry_id, 2)
    assert claimed.fields is not None
    assert {info.name: info.pending for info in p2.consumers()}["p2"] == 1


def test_a_pending_entry_deleted_from_the_stream_comes_back_without_fields(
    harness: Harness,
) -> None:
    p1, p2 = consumer(harness, "p1"), consumer(harness, "p2")
    [entry_id] = published(harness.stream(), 1)
    p1.read_new(count=10, block_ms=None)
    harness.stream().delete(entry_id)  # type: ignore[attr-defined]
    harness.pass_time(0.3)

    [claimed] = p2.reclaim_idle(min_idle_ms=200, count=10)

    assert (claimed.entry_id, claimed.fields) == (entry_id, None)


def test_acked_entries_are_no_longer_pending(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    entry_ids = published(harness.stream(), 2)
    p1.read_new(count=10, block_ms=None)

    p1.ack(*entry_ids)
    p1.ack()

    assert p1.claim_own_pending(count=10) == []
    group = p1.status().group
    assert group is not None and group.pending == 0


# -- dead letters -----------------------------------------------------------------------------


def dead_lettered(p1: EventStream, reason: str = "handler kept dying") -> str:
    """One entry read by the group, then dead-lettered; the dead letter's id."""
    publisher = p1.with_config(p1.config.__class__(stream=STREAM))
    # A higher version each time: one at or below gw_d's mark would be skipped.
    [publication] = publisher.publish([event("gw_d", next(_VERSIONS))], token=1)
    entry_id = str(publication.entry_id)
    entries = p1.read_new(count=10, block_ms=None)
    fields = dict(next(fields for read_id, fields in entries if read_id == entry_id))
    p1.dead_letter(entry_id, fields, reason, 5)
    return p1.latest_dead_letters(1)[0].id


def test_a_dead_letter_keeps_the_fields_and_why_and_is_acked(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    dlq_id = dead_lettered(p1, "unknown event type 'Nope'")

    letter = p1.get_dead_letter(dlq_id)

    assert letter.reason == "unknown event type 'Nope'"
    assert (letter.deliveries, letter.consumer) == (5, "p1")
    assert letter.fields["aggregate_id"] == "gw_d" and letter.entry_id
    assert letter.at.startswith("20")
    assert p1.claim_own_pending(count=10) == []
    assert p1.dead_letter_count() == 1


def test_dead_letters_are_listed_newest_first(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    older, newer = dead_lettered(p1, "a"), dead_lettered(p1, "b")

    assert [letter.id for letter in p1.latest_dead_letters(10)] == [newer, older]
    assert [letter.id for letter in p1.latest_dead_letters(1)] == [newer]


def test_the_dead_letter_stream_is_bounded_exactly(harness: Harness) -> None:
    p1 = consumer(harness, "p1", dead_letters_maxlen=3)
    made = [dead_lettered(p1, f"reason {n}") for n in range(5)]

    assert p1.dead_letter_count() == 3
    assert [letter.id for letter in p1.latest_dead_letters(10)] == made[:1:-1]


def test_a_replayed_dead_letter_is_read_by_the_group_as_new(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    dlq_id = dead_lettered(p1)
    original = p1.get_dead_letter(dlq_id).fields

    new_id = p1.replay(dlq_id)

    assert p1.read_new(count=10, block_ms=None) == [(new_id, original)]
    assert p1.dead_letter_count() == 0


def test_replaying_the_same_dead_letter_twice_publishes_it_once(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    dlq_id = dead_lettered(p1)
    before = len(p1.entries())

    p1.replay(dlq_id)
    with pytest.raises(NotFound):
        p1.replay(dlq_id)

    assert len(p1.entries()) == before + 1


def test_replays_racing_for_the_same_dead_letters_publish_each_once(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    made = [dead_lettered(p1) for _ in range(5)]
    before = len(p1.entries())
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(p1.replay_all(batch=2))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(old for report in reports for old, _ in report.replayed) == sorted(made)
    assert len(p1.entries()) == before + 5


def test_a_dead_letter_without_fields_is_not_replayed_but_kept(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    [entry_id] = published(harness.stream(), 1)
    p1.read_new(count=10, block_ms=None)
    p1.dead_letter(entry_id, None, "gone from the stream", 2)
    empty = p1.latest_dead_letters(1)[0].id
    full = dead_lettered(p1)

    with pytest.raises(InvalidInput, match="nothing to replay"):
        p1.replay(empty)
    report = p1.replay_all()

    assert [old for old, _ in report.replayed] == [full]
    assert [old for old, _ in report.skipped] == [empty]
    assert [letter.id for letter in p1.latest_dead_letters(10)] == [empty]


def test_drop_deletes_one_dead_letter(harness: Harness) -> None:
    p1 = consumer(harness, "p1")
    kept, dropped = dead_lettered(p1), dead_lettered(p1)

    p1.drop(dropped)

    assert [letter.id for letter in p1.latest_dead_letters(10)] == [kept]
    with pytest.raises(NotFound):
        p1.drop(dropped)


@pytest.mark.parametrize("operation", ["get_dead_letter", "replay", "drop"])
def test_unknown_and_malformed_dead_letter_ids(harness: Harness, operation: str) -> None:
    p1 = consumer(harness, "p1")
    with pytest.raises(NotFound):
        getattr(p1, operation)("1-0")
    with pytest.raises(InvalidInput, match="not a stream entry id"):
        getattr(p1, operation)("nope")


# -- status -----------------------------------------------------------------------------------


def test_status_before_any_consumer_joined_has_no_group(harness: Harness) -> None:
    stream = harness.stream()
    assert stream.status().group is None and stream.status().length == 0
    entry_ids = published(stream, 2)

    status = stream.status()

    assert (status.length, status.last_entry_id, status.group) == (2, entry_ids[-1], None)
    assert (status.dead_letter_stream, status.dead_letters) == (DLQ, 0)


def test_status_shows_the_group_lag_pending_and_dead_letters(harness: Harness) -> None:
    p1, p2 = consumer(harness, "p1"), consumer(harness, "p2")
    entry_ids = published(harness.stream(), 5)
    p1.read_new(count=2, block_ms=None)
    p2.read_new(count=1, block_ms=None)
    p1.dead_letter(entry_ids[0], None, "why", 1)

    status = p1.status(latest=1)

    group = status.group
    assert group is not None
    assert (group.name, group.consumers, group.pending, group.lag) == ("provisioner", 2, 2, 2)
    assert (group.entries_read, group.last_delivered_id) == (3, entry_ids[2])
    assert group.oldest_pending_id == entry_ids[1]
    assert [(c.name, c.pending) for c in group.pending_per_consumer] == [("p1", 1), ("p2", 1)]
    assert status.dead_letters == 1 and status.latest_dead_letters[0].reason == "why"


# -- unavailable --------------------------------------------------------------------------------


def test_a_stream_that_cannot_be_reached_is_a_typed_error_and_is_used_again_after(
    harness: Harness,
) -> None:
    p1 = consumer(harness, "p1")
    with harness.outage():
        with pytest.raises(StreamUnavailable):
            p1.publish([event("gw_1", 1)], token=1)
        for call in (
            p1.ping,
            lambda: p1.read_new(count=1, block_ms=None),
            lambda: p1.claim_own_pending(count=1),
            lambda: p1.ack("1-0"),
            p1.status,
        ):
            with pytest.raises(StreamUnavailable):
                call()

    [publication] = p1.publish([event("gw_1", 2)], token=1)
    assert publication.published and publication.entry_id
    p1.ping()
