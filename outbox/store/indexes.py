"""The indexes `outbox init` creates, and how they are brought up to date, for both stores.

Both stores hand over a pymongo-shaped database (pymongo's or mongomock's). Indexes are matched
by their fields, not their names: nx-27017 names every index after its fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from outbox.domain.errors import DuplicateEventVersions

IndexSpec = tuple[str, tuple[tuple[str, int], ...], dict[str, Any]]

EVENT_VERSIONS = "by_gateway_version"  # unique: two events of one gateway never share a version
KEY_EXPIRY = "key_expiry"  # TTL: the HTTP API's idempotency keys go after 24 hours

INDEXES: tuple[IndexSpec, ...] = (
    # Two live gateways never share a name or a host; deleted ones drop out of the index.
    (
        "gateways",
        (("live_name", 1),),
        {
            "name": "live_name_unique",
            "unique": True,
            "partialFilterExpression": {"live_name": {"$exists": True}},
        },
    ),
    (
        "gateways",
        (("live_host", 1),),
        {
            "name": "live_host_unique",
            "unique": True,
            "partialFilterExpression": {"live_host": {"$exists": True}},
        },
    ),
    # The sweeper's scan of gateways not at rest, and retries that are due.
    ("gateways", (("at_rest", 1),), {"name": "not_at_rest"}),
    ("gateways", (("state", 1), ("phase", 1)), {"name": "state_phase"}),
    ("gateways", (("retry.next_at", 1),), {"name": "retry_due"}),
    ("gateways", (("name", 1), ("created_at", -1)), {"name": "name_created"}),
    # The same two scans, of the partitions one provisioner owns.
    ("gateways", (("partition", 1), ("at_rest", 1)), {"name": "partition_not_at_rest"}),
    ("gateways", (("partition", 1), ("retry.next_at", 1)), {"name": "partition_retry_due"}),
    ("environments", (("gateway_id", 1), ("name", 1)), {"name": "by_gateway"}),
    # The relay's batch: unpublished events in commit order; and per-gateway order checks.
    ("outbox", (("published_at", 1), ("occurred_at", 1)), {"name": "unpublished_in_order"}),
    # The same batch of the partitions one relay owns (`partition: {$in: [...]}`).
    (
        "outbox",
        (("partition", 1), ("published_at", 1), ("occurred_at", 1)),
        {"name": "unpublished_by_partition"},
    ),
    # Two events of one gateway never share a version (a missing version counts as null).
    (
        "outbox",
        (("aggregate_id", 1), ("version", 1)),
        {"name": EVENT_VERSIONS, "unique": True},
    ),
    # The relay's order check: a gateway's unpublished versions below the batch's.
    (
        "outbox",
        (("aggregate_id", 1), ("published_at", 1), ("version", 1)),
        {"name": "unpublished_by_gateway"},
    ),
    # The HTTP API: two unrevoked tokens never share a name; remembered writes expire by date.
    (
        "tokens",
        (("live_name", 1),),
        {
            "name": "token_live_name_unique",
            "unique": True,
            "partialFilterExpression": {"live_name": {"$exists": True}},
        },
    ),
    ("idempotency_keys", (("expires_at", 1),), {"name": KEY_EXPIRY, "expireAfterSeconds": 0}),
)

TTL_INDEX_NAME = "published_retention"
DELETED_TTL_INDEX_NAME = "deleted_retention"
# What expires after OUTBOX_RETENTION: published events, and gateways once Deleted (their
# `phase_changed_at` is then the time of deletion), each by a TTL index on that field.
TTL_FIELDS = (("outbox", "published_at"), ("gateways", "phase_changed_at"))


def ttl_index(retention_seconds: int) -> tuple[IndexSpec, ...]:
    """Published events and deleted gateways expire after the retention; 0 keeps them forever
    (no TTL index)."""
    if retention_seconds <= 0:
        return ()
    return (
        (
            "outbox",
            (("published_at", 1),),
            {"name": TTL_INDEX_NAME, "expireAfterSeconds": retention_seconds},
        ),
        (
            "gateways",
            (("phase_changed_at", 1),),
            {
                "name": DELETED_TTL_INDEX_NAME,
                "expireAfterSeconds": retention_seconds,
                "partialFilterExpression": {"phase": "Deleted"},
            },
        ),
    )


@dataclass(frozen=True)
class _Step:
    """One change to make: drop the existing index `drop` (if any), then create `spec` (if any)."""

    collection: str
    drop: str | None
    spec: IndexSpec | None


def ensure_indexes(
    database: Any,
    *,
    retention_seconds: int,
    kept_unique_elsewhere: frozenset[str] = frozenset(),
    expiring_elsewhere: frozenset[str] = frozenset(),
) -> list[str]:
    """Create missing indexes, rebuild changed ones; returns every index the product wants.

    Everything is checked before anything changes: if the outbox holds events of one gateway
    that share a version, nothing is written and DuplicateEventVersions lists them. Indexes
    named in `kept_unique_elsewhere` are made plain: their caller enforces the uniqueness.
    Indexes named in `expiring_elsewhere` lose their TTL: their reader ignores expired
    documents itself (mongomock would expire them by the wall clock, not the product's clock).
    """
    wanted = tuple(
        (collection, keys, _plain(options) if options["name"] in kept_unique_elsewhere else options)
        for collection, keys, options in (*INDEXES, *ttl_index(retention_seconds))
    )
    wanted = tuple(
        (collection, keys, _no_ttl(options) if options["name"] in expiring_elsewhere else options)
        for collection, keys, options in wanted
    )
    existing = {name: database[name].index_information() for name in {c for c, _, _ in wanted}}
    steps = [step for spec in wanted if (step := _step(spec, existing[spec[0]])) is not None]
    steps += _retired_ttl(existing, retention_seconds)
    if any(step.spec is not None and step.spec[2].get("unique") for step in steps):
        _refuse_duplicates(database, steps)
    for step in steps:
        if step.drop is not None:
            database[step.collection].drop_index(step.drop)
        if step.spec is not None:
            _, keys, options = step.spec
            database[step.collection].create_index(list(keys), **options)
    return [f"{collection}.{options['name']}" for collection, _, options in wanted]


def _no_ttl(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key != "expireAfterSeconds"}


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key != "unique"}


def is_initialised(database: Any) -> bool:
    """Whether `outbox init` has run: the live-name index exists (it backs "name taken")."""
    fields = ["live_name"]
    return any(
        _fields(info) == fields for info in database["gateways"].index_information().values()
    )


def _step(spec: IndexSpec, existing: Mapping[str, Mapping[str, Any]]) -> _Step | None:
    collection, keys, options = spec
    name, info = _by_fields(existing, [field for field, _ in keys])
    if info is None:
        return _Step(collection, None, spec)
    same = bool(info.get("unique")) == bool(options.get("unique")) and info.get(
        "expireAfterSeconds"
    ) == options.get("expireAfterSeconds")
    return None if same else _Step(collection, name, spec)


def _retired_ttl(
    existing: Mapping[str, Mapping[str, Mapping[str, Any]]], retention_seconds: int
) -> list[_Step]:
    """Retention 0 keeps events and deleted gateways forever: TTL indexes left from before go."""
    if retention_seconds > 0:
        return []
    steps = []
    for collection, field in TTL_FIELDS:
        name, info = _by_fields(existing.get(collection, {}), [field])
        if info is not None and "expireAfterSeconds" in info:
            steps.append(_Step(collection, name, None))
    return steps


def _by_fields(
    existing: Mapping[str, Mapping[str, Any]], fields: list[str]
) -> tuple[str | None, Mapping[str, Any] | None]:
    # Directions are ignored: nx-27017 reports every field ascending.
    for name, info in existing.items():
        if _fields(info) == fields:
            return name, info
    return None, None


def _fields(info: Mapping[str, Any]) -> list[str]:
    return [str(field) for field, _ in info.get("key", [])]


def _refuse_duplicates(database: Any, steps: list[_Step]) -> None:
    for step in steps:
        if step.spec is None or not step.spec[2].get("unique"):
            continue
        fields = [field for field, _ in step.spec[1]]
        if step.collection == "outbox" and fields == ["aggregate_id", "version"]:
            documents = database["outbox"].find({}, {"aggregate_id": 1, "version": 1})
            if duplicates := duplicate_versions(documents):
                raise DuplicateEventVersions(duplicates)


def duplicate_versions(
    documents: Iterable[Mapping[str, Any]],
) -> list[tuple[object, object, list[str]]]:
    """(gateway id, version, event ids) for each version held by more than one event.

    A missing gateway id or version counts as null, as it does in a MongoDB unique index, so two
    version-less events of one gateway collide. Grouped here rather than by `$group`, which
    nx-27017 cannot do on two fields; it runs only while the index is not yet unique.
    """
    groups: dict[tuple[object, object], list[str]] = {}
    for document in documents:
        key = (_hashable(document.get("aggregate_id")), _hashable(document.get("version")))
        groups.setdefault(key, []).append(str(document["_id"]))
    return [
        (gateway, version, sorted(ids))
        for (gateway, version), ids in sorted(groups.items(), key=lambda item: repr(item[0]))
        if len(ids) > 1
    ]


def _hashable(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value
