"""The indexes `outbox init` creates, shared by both stores."""

from __future__ import annotations

from typing import Any

IndexSpec = tuple[str, tuple[tuple[str, int], ...], dict[str, Any]]

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
    ("environments", (("gateway_id", 1), ("name", 1)), {"name": "by_gateway"}),
    # The relay's batch: unpublished events in commit order; and per-gateway order checks.
    ("outbox", (("published_at", 1), ("occurred_at", 1)), {"name": "unpublished_in_order"}),
    ("outbox", (("aggregate_id", 1), ("version", 1)), {"name": "by_gateway_version"}),
    # The relay's order check: a gateway's unpublished versions below the batch's.
    (
        "outbox",
        (("aggregate_id", 1), ("published_at", 1), ("version", 1)),
        {"name": "unpublished_by_gateway"},
    ),
)

TTL_INDEX_NAME = "published_retention"


def ttl_index(retention_seconds: int) -> tuple[IndexSpec, ...]:
    """Published events expire after the retention; 0 keeps them forever (no TTL index)."""
    if retention_seconds <= 0:
        return ()
    return (
        (
            "outbox",
            (("published_at", 1),),
            {"name": TTL_INDEX_NAME, "expireAfterSeconds": retention_seconds},
        ),
    )
