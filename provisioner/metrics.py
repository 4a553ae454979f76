"""The provisioner's Prometheus metrics, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ProvisionerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_handled = Counter(
            "outbox_provisioner_events_handled",
            "Stream entries handled, by event type and outcome (acked, failed)",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "outbox_provisioner_dead_lettered",
            "Stream entries moved to the dead-letter stream, by reason kind",
            ["reason"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "outbox_provisioner_reconcile_seconds",
            "Time to reconcile one gateway (cluster calls and commits)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.steps = Counter(
            "outbox_provisioner_steps",
            "Committed steps, by the phase they led to",
            ["phase"],
            registry=self.registry,
        )
        self.timeouts = Counter(
            "outbox_provisioner_timeouts",
            "Timeouts fired (StartTimeout, RolloutTimeout, StopTimeout, DeleteTimeout)",
            ["reason"],
            registry=self.registry,
        )
        self.gateways = Gauge(
            "outbox_gateways",
            "Gateways per phase, as of the last sweep",
            ["phase"],
            registry=self.registry,
        )
        self.retries_pending = Gauge(
            "outbox_provisioner_retries_pending",
            "Gateways waiting for a retry after a failure, as of the last sweep",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "outbox_provisioner_in_flight",
            "Gateways queued or being handled by this process",
            registry=self.registry,
        )
