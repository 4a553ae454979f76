"""What nx-27017 (MongoDB's wire protocol over SQLite, the development server) gets wrong,
undone once inside the MongoDB adapter so that no caller needs to know.

- A datetime that an update operator sets as a field's value (`$set`, `$max`, `$setOnInsert` on
  an existing document) is stored as the text SQLite's adapter makes of it, UTC without an
  offset ("2026-01-01 12:00:00.123000"), and reads back as that text. Inserted and replaced
  documents, and a whole sub-document set at once, keep their dates.
- An equality with null (`{field: None}`: missing or null) is answered wrongly by
  `count_documents` (it counts only documents without the field), by `find` next to a `$nor`
  (likewise), and by updates and deletes next to a `$ne` (they match nothing). `{field: {"$in":
  [None]}}` means the same and is right everywhere; `find` evaluates it ten times slower, so a
  find keeps the plain form wherever that one is right.
- `count_documents` evaluates that `$in` form outside SQL, reading every document (seconds on
  a large outbox). An aggregation's `$match` answers the plain null equality right, and fast,
  but gets `$nor` wrong: a count with a null equality and no logical operator goes that way.

Real MongoDB servers get `NO_QUIRKS`: their calls pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.store.port import Document, Filter

NX_27017 = "nx_27017"  # `process` in its buildInfo reply

# `str()` of a naive datetime, what SQLite's adapter writes: the microseconds only when not 0.
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?")
_LOGICAL = ("$and", "$or", "$nor")


@dataclass(frozen=True)
class Quirks:
    null_equality: bool = False  # `{field: None}` must be sent as `{field: {"$in": [None]}}`
    dates_as_text: bool = False  # dates set by an update operator come back as text

    def filter(self, filter: Filter, *, find: bool = False) -> Filter:
        """The filter as this server answers it right. A find without `$nor` keeps its nulls."""
        if not self.null_equality or (find and "$nor" not in filter):
            return filter
        return _in_nulls(filter)

    def count_by_match(self, filter: Filter) -> bool:
        """Whether to count by an aggregation's `$match` and `$count`, with the filter as it is."""
        if not self.null_equality or any(key in _LOGICAL for key in filter):
            return False
        return any(value is None for key, value in filter.items() if not key.startswith("$"))

    def document(self, document: Document) -> Document:
        """The document with dates where the server handed back their text.

        Top-level fields only: the product sets dates by update operators only on top-level
        fields, and a deeper rule would also turn text inside event payloads into dates. Only
        the exact form SQLite writes counts, so names and messages stay text.
        """
        if not self.dates_as_text:
            return document
        return {key: _date_of(value) for key, value in document.items()}


NO_QUIRKS = Quirks()


def quirks_of(build_info: Mapping[str, Any]) -> Quirks:
    """The quirks of the server that sent this `buildInfo` reply."""
    if build_info.get("process") == NX_27017:
        return Quirks(null_equality=True, dates_as_text=True)
    return NO_QUIRKS


def _in_nulls(filter: Filter) -> dict[str, Any]:
    rewritten: dict[str, Any] = {}
    for key, value in filter.items():
        if value is None and not key.startswith("$"):
            rewritten[key] = {"$in": [None]}
        elif key in _LOGICAL and isinstance(value, list):
            rewritten[key] = [_in_nulls(clause) for clause in value]
        else:
            rewritten[key] = value
    return rewritten


def _date_of(value: Any) -> Any:
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        return datetime.fromisoformat(value)  # naive UTC, as the driver gives dates
    return value
