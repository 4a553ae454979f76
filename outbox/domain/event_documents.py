"""Reading outbox documents that anyone may have written: an event, or why it cannot be one.

Another service, an older version or a hand-made fix can leave a document in `outbox` that is
not an event (an ObjectId `_id`, no `version`, an unknown `type`). Readers turn each document
into an `OutboxEvent` or an `Unreadable` that keeps what could be read, so one bad document
never stops a reader. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from outbox.domain.events import OutboxEvent


@dataclass(frozen=True)
class Unreadable:
    """An outbox document that is not an event."""

    id: str  # its `_id` as text: an ObjectId by its 24 hex digits
    gateway_id: str | None  # `aggregate_id`, when it is a non-empty string
    version: int | None  # when it is an integer
    reason: str
    key: Any = field(default=None, compare=False, repr=False)  # the `_id` as stored

    def describe(self) -> str:
        """`ev_x (gateway gw_1 v3)` or `65ab… (no gateway, no version)` for logs."""
        gateway = f"gateway {self.gateway_id}" if self.gateway_id else "no gateway"
        version = f"v{self.version}" if self.version is not None else "no version"
        return f"{self.id} ({gateway}, {version})"


Read = OutboxEvent | Unreadable
PREFIX = "unreadable outbox document: "


@dataclass(frozen=True)
class Readings:
    """Documents read in order, split into the events and the rest."""

    events: list[OutboxEvent]
    unreadable: list[Unreadable]

    @property
    def count(self) -> int:
        return len(self.events) + len(self.unreadable)


def read_event(document: dict[str, Any]) -> Read:
    """The event in `document`, or an `Unreadable` saying why not."""
    key = document.get("_id")
    if key is not None and not isinstance(key, str):
        # pydantic would say "Input should be a valid string": name the real cause.
        return unreadable(
            document, f"{PREFIX}_id is of type {type(key).__name__}, not a string event id"
        )
    try:
        return OutboxEvent.model_validate(document)
    except ValidationError as error:
        return unreadable(document, _reason(error))


def read_all(documents: Iterable[dict[str, Any]]) -> Readings:
    events: list[OutboxEvent] = []
    bad: list[Unreadable] = []
    for document in documents:
        read = read_event(document)
        if isinstance(read, OutboxEvent):
            events.append(read)
        else:
            bad.append(read)
    return Readings(events, bad)


def unreadable(document: dict[str, Any], reason: str) -> Unreadable:
    """What can still be read from a document that is not an event."""
    key = document.get("_id")
    gateway = document.get("aggregate_id")
    return Unreadable(
        id=name_of(key),
        gateway_id=gateway if isinstance(gateway, str) and gateway else None,
        version=integer(document.get("version")),
        reason=reason,
        key=key,
    )


def name_of(key: Any) -> str:
    """An `_id` as text (`str` of an ObjectId is its 24 hex digits)."""
    return key if isinstance(key, str) else str(key)


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _reason(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        where = ".".join(str(part) for part in detail["loc"]) or "document"
        if detail["type"] == "missing":
            problems.append(f"{where} missing")
        elif detail["type"] == "enum":
            problems.append(f"unknown {where} {_shown(detail.get('input'))}")
        else:
            problems.append(f"{where}: {detail['msg']} (got {_shown(detail.get('input'))})")
    return PREFIX + "; ".join(problems)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
