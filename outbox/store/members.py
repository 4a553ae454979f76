"""Heartbeat records, one per daemon process (`role/name`), in the `members` collection.

A beat upserts the record, live members are those whose record has not yet expired, and old
records are deleted by role; how often to beat and when to forget are `outbox.coordination.
membership`'s to decide, which also parses the documents read here.
"""

from __future__ import annotations

from datetime import datetime

from outbox.store.port import MEMBERS, Collections, Document, Store
from outbox.store.repository import collections_of


class Members:
    def __init__(self, source: Store | Collections) -> None:
        self._members = collections_of(source).collection(MEMBERS)

    def beat(
        self, role: str, name: str, *, host: str, pid: int, at: datetime, expires_at: datetime
    ) -> None:
        """Record that the member is alive `at` until `expires_at`; a first beat also records
        when it joined."""
        fields = {"role": role, "name": name, "host": host, "pid": pid, "last_beat": at}
        self._members.update_one(
            {"_id": _key(role, name)},
            {"$set": {**fields, "expires_at": expires_at}, "$setOnInsert": {"joined_at": at}},
            upsert=True,
        )

    def live(self, role: str, *, at: datetime) -> list[Document]:
        """The records of the role not yet expired `at`, by name."""
        return self._members.find({"role": role, "expires_at": {"$gt": at}}, sort=[("name", 1)])

    def forget(self, role: str, *, expired_before: datetime) -> int:
        """Delete the role's records that expired before that time; returns how many went."""
        return self._members.delete_many({"role": role, "expires_at": {"$lt": expired_before}})

    def remove(self, role: str, name: str) -> int:
        """Delete the member's record (0 when it had none)."""
        return self._members.delete_many({"_id": _key(role, name)})


def _key(role: str, name: str) -> str:
    # Names are unique within a role only: a relay and a provisioner may share one.
    return f"{role}/{name}"
