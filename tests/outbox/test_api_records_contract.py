"""The HTTP API's records (`TokenRecords`, `IdempotencyRecords`) against every store adapter:
one live token per name, revocation, use noted; a key held by one claim at a time, answered
inside a transaction or not at all. Each works on a store and inside a transaction alike.

Idempotency records are dated by the wall clock: a database with a TTL monitor would expire
records dated by a fake one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outbox.domain.clock import as_utc, utcnow
from outbox.store.idempotency_keys import IdempotencyRecords, KeyClaim
from outbox.store.port import Collections, DuplicateKey, Store
from outbox.store.tokens import TokenRecords

NOW = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as MongoDB keeps them
LATER = NOW + timedelta(minutes=5)


class Refused(Exception):
    """Raised by a unit of work to roll it back."""


def token(token_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": token_id,
        "name": name,
        "role": "writer",
        "digest": "0" * 64,
        "created_at": NOW,
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
        **fields,
    }


def dated(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """The document with its dates in UTC (pymongo reads them back naive)."""
    if document is None:
        return None
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in document.items()}


def claim(key_id: str, mark: str, fingerprint: str = "request") -> KeyClaim:
    now = utcnow().replace(microsecond=0)
    return KeyClaim(key_id, mark, fingerprint, now + timedelta(minutes=2), now + timedelta(days=1))


def refuse(work: Any) -> Any:
    def refused(collections: Collections) -> None:
        work(collections)
        raise Refused

    return refused


# -- tokens ---------------------------------------------------------------------------------------


def test_a_token_reads_back_as_inserted_without_its_index_field(any_store: Store) -> None:
    records = TokenRecords(any_store)

    records.insert(token("tok_1", "ci"))

    assert dated(records.get("tok_1")) == token("tok_1", "ci")
    assert records.get("tok_2") is None


def test_two_unrevoked_tokens_never_share_a_name(any_store: Store) -> None:
    records = TokenRecords(any_store)
    records.insert(token("tok_1", "ci"))

    with pytest.raises(DuplicateKey):
        records.insert(token("tok_2", "ci"))

    assert [document["_id"] for document in records.all()] == ["tok_1"]


def test_a_revoked_token_is_no_longer_found_by_its_name_and_frees_it(any_store: Store) -> None:
    records = TokenRecords(any_store)
    records.insert(token("tok_1", "ci"))

    revoked = records.revoke("ci", at=LATER)
    records.insert(token("tok_2", "ci", created_at=LATER))

    assert dated(revoked) == token("tok_1", "ci", revoked_at=LATER)
    assert dated(records.get("tok_1")) == token("tok_1", "ci", revoked_at=LATER)
    assert records.revoke("nobody", at=LATER) is None
    assert dated(records.revoke("ci", at=LATER)) == token(
        "tok_2", "ci", created_at=LATER, revoked_at=LATER
    )
    assert records.revoke("ci", at=LATER) is None


def test_tokens_are_listed_oldest_first_revoked_ones_included(any_store: Store) -> None:
    records = TokenRecords(any_store)
    records.insert(token("tok_b", "later", created_at=LATER))
    records.insert(token("tok_a", "earlier"))
    records.revoke("earlier", at=LATER)

    listed = [dated(document) for document in records.all()]

    assert listed == [
        token("tok_a", "earlier", revoked_at=LATER),
        token("tok_b", "later", created_at=LATER),
    ]


def test_a_touch_notes_when_the_token_was_used(any_store: Store) -> None:
    records = TokenRecords(any_store)
    records.insert(token("tok_1", "ci"))

    records.touch("tok_1", at=LATER)
    records.touch("tok_unknown", at=LATER)

    assert dated(records.get("tok_1")) == token("tok_1", "ci", last_used_at=LATER)
    assert records.get("tok_unknown") is None


def test_token_writes_in_a_transaction_that_rolls_back_leave_nothing(any_store: Store) -> None:
    TokenRecords(any_store).insert(token("tok_1", "ci"))

    def work(collections: Collections) -> None:
        records = TokenRecords(collections)
        records.touch("tok_1", at=LATER)
        records.insert(token("tok_2", "other"))

    with pytest.raises(Refused):
        any_store.transaction(refuse(work))

    assert dated(TokenRecords(any_store).get("tok_1")) == token("tok_1", "ci")
    assert TokenRecords(any_store).get("tok_2") is None


# -- idempotency keys -----------------------------------------------------------------------------


def test_a_key_nobody_holds_is_claimed_unanswered(any_store: Store) -> None:
    records = IdempotencyRecords(any_store)
    first = claim("tok:k", "a")

    assert records.get("tok:k") is None
    assert records.claim(first)

    assert dated(records.get("tok:k")) == first.to_document()


def test_a_key_claimed_twice_lets_only_the_first_claim_through(any_store: Store) -> None:
    records = IdempotencyRecords(any_store)
    first = claim("tok:k", "a")

    assert records.claim(first)
    assert not records.claim(claim("tok:k", "b", "another request"))

    assert dated(records.get("tok:k")) == first.to_document()


def test_a_key_taken_over_twice_from_one_claim_lets_only_one_through(any_store: Store) -> None:
    records = IdempotencyRecords(any_store)
    records.claim(claim("tok:k", "dead"))
    winner = claim("tok:k", "b")

    assert records.take_over(winner, from_claim="dead")
    assert not records.take_over(claim("tok:k", "c"), from_claim="dead")

    assert dated(records.get("tok:k")) == winner.to_document()


def test_of_two_transactions_answering_a_key_only_the_claim_holders_commits(
    any_store: Store,
) -> None:
    IdempotencyRecords(any_store).claim(claim("tok:k", "holder"))

    def answer(mark: str, status: int) -> bool:
        return any_store.transaction(
            lambda c: IdempotencyRecords(c).answer(
                "tok:k", mark, status=status, body="{}", headers={"ETag": '"1"'}
            )
        )

    assert not answer("stale", 409)
    assert answer("holder", 201)

    stored = IdempotencyRecords(any_store).get("tok:k") or {}
    assert (stored["claim"], stored["status"], stored["headers"]) == (
        "holder",
        201,
        {"ETag": '"1"'},
    )


def test_an_answer_rolled_back_with_its_write_leaves_the_key_unanswered(any_store: Store) -> None:
    IdempotencyRecords(any_store).claim(claim("tok:k", "holder"))

    def work(collections: Collections) -> None:
        IdempotencyRecords(collections).answer("tok:k", "holder", status=201, body="{}", headers={})

    with pytest.raises(Refused):
        any_store.transaction(refuse(work))

    assert (IdempotencyRecords(any_store).get("tok:k") or {})["status"] is None


def test_release_deletes_only_the_holders_unanswered_record(any_store: Store) -> None:
    records = IdempotencyRecords(any_store)
    records.claim(claim("tok:open", "holder"))
    records.claim(claim("tok:done", "holder"))
    any_store.transaction(
        lambda c: IdempotencyRecords(c).answer(
            "tok:done", "holder", status=201, body="", headers={}
        )
    )

    assert records.release("tok:open", "stranger") == 0
    assert records.release("tok:done", "holder") == 0
    assert records.release("tok:open", "holder") == 1

    assert records.get("tok:open") is None
    assert (records.get("tok:done") or {})["status"] == 201
