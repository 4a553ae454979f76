"""Tokens and idempotency keys on every store adapter (in-memory, nx-27017, a replica set when
given): the unique live token name, and a key completed inside a real transaction or not at all.

On the wall clock: a database with a TTL monitor would expire records dated by a fake one."""

from __future__ import annotations

import pytest

from outbox.domain.clock import utcnow
from outbox.domain.errors import NameTaken
from outbox.store.port import GATEWAYS, IDEMPOTENCY_KEYS, Store
from outbox.writer import Writer
from outbox_api.idempotency import Claimed, IdempotencyKeys, Replay, Response
from outbox_api.tokens import Role, Tokens
from tests.support.api import SPEC


def test_a_live_token_name_is_unique_and_revoking_frees_it(any_store: Store) -> None:
    tokens = Tokens(any_store)
    tokens.create("ci", Role.READER)

    with pytest.raises(NameTaken):
        tokens.create("ci", Role.WRITER)
    tokens.revoke("ci")
    again = tokens.create("ci", Role.WRITER)

    assert tokens.get(again.token.id) == again.token
    assert sorted(token.revoked_at is None for token in tokens.list()) == [False, True]


def test_a_key_completes_in_the_writes_transaction(any_store: Store) -> None:
    keys = IdempotencyKeys(any_store, clock=utcnow)
    claimed = keys.begin("tok", "k", "request")
    assert isinstance(claimed, Claimed)
    response = Response(201, '{"name": "edge"}', {"ETag": '"1"'})

    Writer(any_store, clock=utcnow, extra=lambda c, _: keys.complete(c, claimed, response)).create(
        "edge", SPEC
    )

    assert keys.begin("tok", "k", "request") == Replay(response)


def test_a_key_whose_write_is_refused_stays_unanswered(any_store: Store) -> None:
    Writer(any_store, clock=utcnow).create("edge", SPEC)
    keys = IdempotencyKeys(any_store, clock=utcnow)
    claimed = keys.begin("tok", "k", "request")
    assert isinstance(claimed, Claimed)
    writer = Writer(
        any_store,
        clock=utcnow,
        extra=lambda c, _: keys.complete(c, claimed, Response(201, "{}", {})),
    )

    with pytest.raises(NameTaken):
        writer.create("edge", SPEC)
    keys.release(claimed)

    assert any_store.collection(IDEMPOTENCY_KEYS).count_documents({}) == 0
    assert any_store.collection(GATEWAYS).count_documents({}) == 1
