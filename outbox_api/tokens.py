"""Bearer tokens of the HTTP API: who may read, change gateways, or manage tokens.

A token is a public id and a secret (`tok_<id>.<secret>`), looked up by its id; only the SHA-256
digest of the secret is stored (`outbox.store.tokens`), and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import InvalidInput, NameTaken, NotFound
from outbox.domain.model import UtcDatetime, check_name
from outbox.store.port import DuplicateKey, Store
from outbox.store.tokens import TokenRecords

TOKEN_ID_PREFIX = "tok_"
_SEPARATOR = "."
_BEARER = re.compile(r"^tok_[0-9a-f]{16}\.[A-Za-z0-9_-]{20,100}$")
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Role(StrEnum):
    """Each role may do what the ones before it may."""

    READER = "reader"  # GET
    WRITER = "writer"  # also create, change and delete gateways
    ADMIN = "admin"  # also manage tokens

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class Token(BaseModel):
    """A stored token: never its secret, only the secret's digest."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    name: str
    role: Role
    digest: str
    created_at: UtcDatetime
    expires_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None
    last_used_at: UtcDatetime | None = None

    def usable(self, now: datetime) -> bool:
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(digest(secret), self.digest)

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="python")

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Token:
        return cls.model_validate(document)


@dataclass(frozen=True)
class Issued:
    """A new token and its bearer text, which exists only here: it is shown once."""

    token: Token
    bearer: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_bearer(text: str) -> tuple[str, str] | None:
    """(token id, secret) of a well-formed bearer text, else None."""
    if not _BEARER.match(text):
        return None
    token_id, _, secret = text.partition(_SEPARATOR)
    return token_id, secret


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `45s`, `2w`."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidInput(f"duration {text!r} is not a number and a unit (s, m, h, d, w): 90d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


class Tokens:
    """The token repository: create, list, revoke, look up, and note use."""

    def __init__(self, store: Store, *, clock: Clock = utcnow) -> None:
        self._tokens = TokenRecords(store)
        self._clock = clock

    def create(self, name: str, role: Role | str, *, expires_in: timedelta | None = None) -> Issued:
        try:
            name = check_name(name)
            role = Role(role)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        token = Token(
            id=TOKEN_ID_PREFIX + secrets.token_hex(8),
            name=name,
            role=role,
            digest=digest(secret),
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
        )
        try:
            self._tokens.insert(token.to_document())
        except DuplicateKey:
            raise NameTaken(f"a token named {name!r} exists; revoke it first") from None
        return Issued(token, f"{token.id}{_SEPARATOR}{secret}")

    def list(self) -> list[Token]:
        return [Token.from_document(document) for document in self._tokens.all()]

    def get(self, token_id: str) -> Token | None:
        document = self._tokens.get(token_id)
        return None if document is None else Token.from_document(document)

    def revoke(self, name: str) -> Token:
        """Revoke the live token with that name; its name becomes free."""
        document = self._tokens.revoke(name, at=self._clock())
        if document is None:
            raise NotFound(f"no live token named {name!r}")
        return Token.from_document(document)

    def touch(self, token_id: str, at: datetime) -> None:
        self._tokens.touch(token_id, at=at)
