"""The HTTP API's token records in `tokens`: inserted, listed, found by id, revoked, touched.

One document a call, no transaction; documents come back as stored, without `live_name`.
Digests, roles and expiry are for `outbox_api.tokens` to judge.
"""

from __future__ import annotations

from datetime import datetime

from outbox.store.port import TOKENS, Collections, Document, Store
from outbox.store.repository import collections_of

# Set on unrevoked tokens only: the partial unique index (`indexes.py`) covers live names alone.
LIVE_NAME = "live_name"


class TokenRecords:
    def __init__(self, source: Store | Collections) -> None:
        self._tokens = collections_of(source).collection(TOKENS)

    def insert(self, document: Document) -> None:
        """Store a token's document; raises DuplicateKey if an unrevoked token has its name."""
        live = {LIVE_NAME: document["name"]} if document.get("revoked_at") is None else {}
        self._tokens.insert_one({**document, **live})

    def all(self) -> list[Document]:
        """Every token's document, revoked and expired ones included, oldest first."""
        return [_stored(document) for document in self._tokens.find({}, sort=[("created_at", 1)])]

    def get(self, token_id: str) -> Document | None:
        document = self._tokens.find_one({"_id": token_id})
        return None if document is None else _stored(document)

    def revoke(self, name: str, *, at: datetime) -> Document | None:
        """Revoke the unrevoked token with that name, freeing the name; its document after the
        change, or None when no unrevoked token has that name."""
        document = self._tokens.find_one_and_update(
            {LIVE_NAME: name}, {"$set": {"revoked_at": at}, "$unset": {LIVE_NAME: ""}}
        )
        return None if document is None else _stored(document)

    def touch(self, token_id: str, *, at: datetime) -> None:
        """Note that the token was used `at`."""
        self._tokens.update_one({"_id": token_id}, {"$set": {"last_used_at": at}})


def _stored(document: Document) -> Document:
    return {key: value for key, value in document.items() if key != LIVE_NAME}
