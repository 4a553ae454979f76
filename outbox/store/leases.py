"""Lease documents (owner, fencing token, expiry): read, taken, renewed and released here.

Every write is one compare-and-set on a single document, outside any transaction when given
the store. Whether a lease is free and which token a takeover gets are the lease holder's
rules (`outbox.coordination.lease_holder`); callers parse the documents with `parse_lease`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from outbox.store.port import LEASES, Collections, Document, DuplicateKey, Store
from outbox.store.repository import collections_of


class Leases:
    def __init__(self, source: Store | Collections) -> None:
        self._leases = collections_of(source).collection(LEASES)

    def get(self, name: str) -> Document | None:
        """The lease document as stored, or None when nobody ever took the lease."""
        return self._leases.find_one({"_id": name})

    def all(self) -> list[Document]:
        """Every lease document, held or not, in no particular order (`outbox status`)."""
        return self._leases.find({})

    def among(self, names: Sequence[str]) -> list[Document]:
        """The stored documents of these leases (those never taken have none)."""
        return self._leases.find({"_id": {"$in": list(names)}})

    def take(
        self,
        name: str,
        *,
        replacing: int | None,
        owner: str,
        token: int,
        expires_at: datetime,
    ) -> bool:
        """Make `owner` the holder, over the document whose token is still `replacing` (None:
        where no document was found). False if another took the lease since it was read."""
        fields = {"owner": owner, "token": token, "expires_at": expires_at}
        try:
            if replacing is None:
                self._leases.insert_one({"_id": name, **fields})
                return True
            # Compare-and-set on the token read: of two standbys, one wins.
            update = {"$set": fields}
            return bool(self._leases.update_one({"_id": name, "token": replacing}, update))
        except DuplicateKey:
            return False  # another created the document first

    def renew(self, name: str, *, owner: str, token: int, until: datetime) -> bool:
        """Extend the lease while `owner` still holds it with `token`; False once it lost it."""
        return bool(
            self._leases.update_one(
                {"_id": name, "owner": owner, "token": token}, {"$set": {"expires_at": until}}
            )
        )

    def release(self, name: str, *, owner: str, token: int, at: datetime) -> bool:
        """Leave the lease free from `at` (token kept, so the next holder's is higher); False
        if `owner` no longer held it with `token`."""
        return bool(
            self._leases.update_one(
                {"_id": name, "owner": owner, "token": token},
                {"$set": {"owner": None, "expires_at": at}},
            )
        )
