"""The relay's Prometheus metrics, in a registry of its own (served by outbox.health)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BACKENDS = ("mongodb", "redis")
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backlog = Gauge(
            "outbox_relay_backlog", "Unpublished events that are not parked", registry=r
        )
        self.oldest_age = Gauge(
            "outbox_relay_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished, unparked event (0 when none)",
            registry=r,
        )
        self.published = Counter(
            "outbox_relay_published_total", "Events this relay put into the stream", registry=r
        )
        self.duplicates = Counter(
            "outbox_relay_duplicates_skipped_total",
            "Events already in the stream (dedupe key found), marked without a second entry",
            registry=r,
        )
        self.rejected = Counter(
            "outbox_relay_rejected_total", "Event publications Redis rejected", registry=r
        )
        self.latency = Histogram(
            "outbox_relay_commit_to_stream_seconds",
            "Seconds from an event's commit timestamp to its XADD",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lease_holder = Gauge(
            "outbox_relay_lease_holder", "1 while this relay holds the lease, else 0", registry=r
        )
        self.lease_token = Gauge(
            "outbox_relay_lease_token",
            "Fencing token of this relay's lease (0 if none)",
            registry=r,
        )
        self.parked = Gauge(
            "outbox_relay_parked_events", "Events parked after repeated rejection", registry=r
        )
        self.outages = Counter(
            "outbox_relay_backend_outages_total",
            "Times MongoDB or Redis became unreachable (once per outage, not per retry)",
            ["backend"],
            registry=r,
        )
        for backend in BACKENDS:  # present at 0, so that increase() sees the first outage
            self.outages.labels(backend=backend)
