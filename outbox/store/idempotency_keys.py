"""The HTTP API's idempotency records in `idempotency_keys`: claim, take over, answer, release.

Each write is a compare-and-set on the claim, and answering works inside a write's transaction;
when a claim is stale or a record expired, and what to replay, `outbox_api.idempotency` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from outbox.store.port import IDEMPOTENCY_KEYS, Collections, Document, DuplicateKey, Store
from outbox.store.repository import collections_of


@dataclass(frozen=True)
class KeyClaim:
    """A claimed key, not yet answered: `claim` is the holder's random mark."""

    key_id: str
    claim: str
    fingerprint: str
    claimed_until: datetime
    expires_at: datetime  # MongoDB's TTL index (`indexes.KEY_EXPIRY`) deletes it then

    def to_document(self) -> Document:
        return {
            "_id": self.key_id,
            "claim": self.claim,
            "fingerprint": self.fingerprint,
            "status": None,  # no answer yet
            "claimed_until": self.claimed_until,
            "expires_at": self.expires_at,
        }


class IdempotencyRecords:
    def __init__(self, source: Store | Collections) -> None:
        self._keys = collections_of(source).collection(IDEMPOTENCY_KEYS)

    def get(self, key_id: str) -> Document | None:
        """The key's record as stored (claimed or answered, expired or not), or None."""
        return self._keys.find_one({"_id": key_id})

    def claim(self, record: KeyClaim) -> bool:
        """Claim a key nobody holds; False if another request's record is there first.

        Call it on the store, not in a transaction: there MongoDB aborts the whole transaction
        on the duplicate, and a second request could not see the claim in flight."""
        try:
            self._keys.insert_one(record.to_document())
        except DuplicateKey:
            return False
        return True

    def take_over(self, record: KeyClaim, *, from_claim: str) -> bool:
        """Replace the record held by `from_claim` with a new claim; False if another request
        took it over since it was read."""
        guard = {"_id": record.key_id, "claim": from_claim}
        return bool(self._keys.replace_one(guard, record.to_document()))

    def answer(
        self, key_id: str, claim: str, *, status: int, body: str, headers: dict[str, str]
    ) -> bool:
        """Store the response under the claim; False if the claim is no longer held."""
        done = {"status": status, "body": body, "headers": headers}
        return bool(self._keys.update_one({"_id": key_id, "claim": claim}, {"$set": done}))

    def release(self, key_id: str, claim: str) -> int:
        """Delete the claim's record unless it was answered; returns how many went (0 or 1)."""
        return self._keys.delete_many({"_id": key_id, "claim": claim, "status": None})
