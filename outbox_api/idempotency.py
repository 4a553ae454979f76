"""Idempotency keys: a retried write answers with its first response instead of writing twice.

The policy (fingerprints, replay, when a claim is stale or a record expired) is here; the
records are `outbox.store.idempotency_keys`'s.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from outbox.domain.clock import Clock, as_utc, utcnow
from outbox.domain.errors import Conflict
from outbox.store.idempotency_keys import IdempotencyRecords, KeyClaim
from outbox.store.port import Collections, Document, Store

TTL = timedelta(hours=24)
CLAIM_TIMEOUT = timedelta(seconds=120)


class KeyTakenOver(Conflict):
    """The claim was taken over by another request (this one was presumed dead)."""


@dataclass(frozen=True)
class Response:
    """What the first request answered: replayed as it was."""

    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Claimed:
    """This request holds the key: write, then `complete` (inside the write) or `release`."""

    key_id: str
    claim: str


@dataclass(frozen=True)
class Replay:
    response: Response


@dataclass(frozen=True)
class InFlight:
    """Another request with this key has not finished."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for a different request."""


Outcome = Claimed | Replay | InFlight | Mismatch


def fingerprint(method: str, path: str, body: object) -> str:
    """The same request, whatever the JSON key order or spacing of its body (as parsed)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), canonical)).hexdigest()


def key_id(scope: str, key: str) -> str:
    """One caller's key: two tokens may use the same key for different requests."""
    return f"{scope}:{hashlib.sha256(key.encode()).hexdigest()}"


class IdempotencyKeys:
    """A request first claims its key (a plain insert, outside any transaction, so that a second
    request with the same key sees it in flight). The write then completes the claim, storing
    the response, in the same transaction as the change itself: the change and its record
    commit together or not at all. A write that fails releases the claim, so that the client
    may retry it. A claim left by a process that died is taken over once `claim_timeout` has
    passed; a record expires after `ttl` (MongoDB's TTL index removes it; until then it is
    ignored once expired).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utcnow,
        ttl: timedelta = TTL,
        claim_timeout: timedelta = CLAIM_TIMEOUT,
    ) -> None:
        self._keys = IdempotencyRecords(store)
        self._clock = clock
        self._ttl = ttl
        self._claim_timeout = claim_timeout

    def begin(self, scope: str, key: str, request: str) -> Outcome:
        """Claim the key for `request` (its fingerprint), or say why not."""
        identifier = key_id(scope, key)
        for _ in range(3):  # a lost insert race is decided by the winner's record
            found = self._keys.get(identifier)
            if found is None:
                outcome = self._insert(identifier, request)
            else:
                outcome = self._judge(found, request)
            if outcome is not None:
                return outcome
        return InFlight()

    def complete(self, collections: Collections, claimed: Claimed, response: Response) -> None:
        """Inside the write's transaction: store its response under the claim."""
        answered = IdempotencyRecords(collections).answer(
            claimed.key_id,
            claimed.claim,
            status=response.status,
            body=response.body,
            headers=response.headers,
        )
        if not answered:
            raise KeyTakenOver("another request took over this idempotency key")

    def release(self, claimed: Claimed) -> None:
        """The write failed: forget the claim, so that a retry writes."""
        self._keys.release(claimed.key_id, claimed.claim)

    def _insert(self, identifier: str, request: str) -> Outcome | None:
        claimed = Claimed(identifier, secrets.token_hex(8))
        if not self._keys.claim(self._record(claimed, request)):
            return None  # another request claimed it first: read its record
        return claimed

    def _judge(self, found: Document, request: str) -> Outcome | None:
        now = self._clock()
        if as_utc(found["expires_at"]) > now:
            if found.get("fingerprint") != request:
                return Mismatch()
            if found.get("status") is not None:
                headers = {str(k): str(v) for k, v in found.get("headers", {}).items()}
                return Replay(Response(int(found["status"]), str(found["body"]), headers))
            if as_utc(found["claimed_until"]) > now:
                return InFlight()
        # Expired, or a claim abandoned by a request that died: take it over, if nobody else did.
        claimed = Claimed(found["_id"], secrets.token_hex(8))
        if not self._keys.take_over(self._record(claimed, request), from_claim=found["claim"]):
            return None
        return claimed

    def _record(self, claimed: Claimed, request: str) -> KeyClaim:
        now = self._clock()
        return KeyClaim(
            key_id=claimed.key_id,
            claim=claimed.claim,
            fingerprint=request,
            claimed_until=now + self._claim_timeout,
            expires_at=now + self._ttl,
        )
