"""The relay's Prometheus metrics, in a registry of its own (served by outbox.runtime.health)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from outbox.runtime.metrics import MetricDefinition, register

BACKENDS = ("mongodb", "redis")
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)

METRICS = {
    "backlog": MetricDefinition(
        Gauge, "outbox_relay_backlog", "Unpublished events that are not parked"
    ),
    "oldest_age": MetricDefinition(
        Gauge,
        "outbox_relay_oldest_unpublished_age_seconds",
        "Age of the oldest unpublished, unparked event (0 when none)",
    ),
    "published": MetricDefinition(
        Counter, "outbox_relay_published_total", "Events this relay put into the stream"
    ),
    "duplicates": MetricDefinition(
        Counter,
        "outbox_relay_duplicates_skipped_total",
        "Events already in the stream (at or below the mark), marked without a second entry",
    ),
    "rejected": MetricDefinition(
        Counter, "outbox_relay_rejected_total", "Event publications Redis rejected"
    ),
    "latency": MetricDefinition(
        Histogram,
        "outbox_relay_commit_to_stream_seconds",
        "Seconds from an event's commit timestamp to its XADD",
        buckets=LATENCY_BUCKETS,
    ),
    "lease_holder": MetricDefinition(
        Gauge, "outbox_relay_lease_holder", "1 while this relay holds the lease, else 0"
    ),
    "lease_token": MetricDefinition(
        Gauge, "outbox_relay_lease_token", "Fencing token of this relay's lease (0 if none)"
    ),
    # Labelled by partition: at most P series (the partition count `outbox init` records).
    "partition_owned": MetricDefinition(
        Gauge,
        "outbox_relay_partition_owned",
        "1 while this relay owns the partition, else 0 (partitioned stores)",
        ("partition",),
    ),
    "parked": MetricDefinition(
        Gauge, "outbox_relay_parked_events", "Events parked after repeated rejection"
    ),
    "outages": MetricDefinition(
        Counter,
        "outbox_relay_backend_outages_total",
        "Times MongoDB or Redis became unreachable (once per outage, not per retry)",
        ("backend",),
    ),
}


class RelayMetrics:
    backlog: Gauge
    oldest_age: Gauge
    published: Counter
    duplicates: Counter
    rejected: Counter
    latency: Histogram
    lease_holder: Gauge
    lease_token: Gauge
    partition_owned: Gauge
    parked: Gauge
    outages: Counter

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        register(self, METRICS, self.registry)
        for backend in BACKENDS:  # present at 0, so that increase() sees the first outage
            self.outages.labels(backend=backend)
