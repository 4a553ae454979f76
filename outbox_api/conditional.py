"""Conditional requests: the ETag is the gateway's version.

`If-Match` on a write becomes the writer's `expected_version` (a mismatch is 412), and
`If-None-Match` on a read that still matches answers 304. Pure functions over header values.
"""

from __future__ import annotations

import re

from outbox_api.problems import ApiProblem

_TAG = re.compile(r'^(?:W/)?"([0-9]{1,18})"$')


def etag(version: int) -> str:
    return f'"{version}"'


def _versions(header: str) -> list[int | None]:
    """Each listed tag's version; None for `*` (any) or a tag that is not one of ours."""
    found: list[int | None] = []
    for part in header.split(","):
        match = _TAG.match(part.strip())
        found.append(int(match.group(1)) if match else None)
    return found


def expected_version(if_match: str | None) -> int | None:
    """The version `If-Match` asks for; None when absent or `*` (any version)."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = _versions(if_match)
    if len(versions) != 1 or versions[0] is None:
        detail = 'If-Match takes one ETag of this API, such as "3", or *'
        raise ApiProblem(412, "version-mismatch", "Version mismatch", detail)
    return versions[0]


def not_modified(if_none_match: str | None, version: int) -> bool:
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    return version in _versions(if_none_match)
