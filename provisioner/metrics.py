"""The provisioner's Prometheus metrics, in a registry of its own (no global state).

Every known label value starts at 0, so that `increase()` sees the first dead letter, timeout or
outage (a series born at 1 has no earlier sample to increase from).
"""

from __future__ import annotations

from itertools import product

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from outbox.domain.events import EventType
from outbox.domain.model import Phase
from outbox.runtime.metrics import MetricDefinition, register
from provisioner.cluster.port import KINDS
from provisioner.decide import DELETE_TIMEOUT, ROLLOUT_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT

# Kinds of dead letter: the `reason` label of outbox_provisioner_dead_lettered_total.
UNPARSABLE = "unparsable"
DELIVERIES = "deliveries"
UNKNOWN_GATEWAY = "unknown-gateway"
DEAD_LETTER_KINDS = (UNPARSABLE, DELIVERIES, UNKNOWN_GATEWAY)

OUTCOMES = ("acked", "failed")
TIMEOUT_REASONS = (START_TIMEOUT, ROLLOUT_TIMEOUT, STOP_TIMEOUT, DELETE_TIMEOUT)
BACKENDS = ("mongodb", "redis")
# What brought a gateway to a worker: its stream entry, a watch event, the sweep (due gateways
# and the resync of Started ones), or a timer at its deadline.
STREAM, WATCH, SWEEP, RESYNC, TIMER = "stream", "watch", "sweep", "resync", "timer"
TRIGGERS = (STREAM, WATCH, SWEEP, RESYNC, TIMER)
VERBS = ("get", "patch", "delete", "list", "watch")


METRICS = {
    "events_handled": MetricDefinition(
        Counter,
        "outbox_provisioner_events_handled",
        "Stream entries handled, by event type and outcome (acked, failed)",
        ("type", "outcome"),
    ),
    "dead_lettered": MetricDefinition(
        Counter,
        "outbox_provisioner_dead_lettered",
        "Stream entries moved to the dead-letter stream, by reason kind",
        ("reason",),
    ),
    "reconcile_seconds": MetricDefinition(
        Histogram,
        "outbox_provisioner_reconcile_seconds",
        "Time to reconcile one gateway (cluster calls and commits)",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    ),
    "steps": MetricDefinition(
        Counter, "outbox_provisioner_steps", "Committed steps, by the phase they led to", ("phase",)
    ),
    "step_triggers": MetricDefinition(
        Counter,
        "outbox_provisioner_step_triggers",
        "Committed steps, by the phase they led to and what brought the gateway (stream, watch, "
        "sweep, resync, timer)",
        ("phase", "trigger"),
    ),
    "timeouts": MetricDefinition(
        Counter,
        "outbox_provisioner_timeouts",
        "Timeouts fired (StartTimeout, RolloutTimeout, StopTimeout, DeleteTimeout)",
        ("reason",),
    ),
    "backend_outages": MetricDefinition(
        Counter,
        "outbox_provisioner_backend_outages",
        "Outages of a backend (mongodb, redis) seen by this process, counted when they start",
        ("backend",),
    ),
    "gateways": MetricDefinition(
        Gauge, "outbox_gateways", "Gateways per phase, as of the last sweep", ("phase",)
    ),
    "retries_pending": MetricDefinition(
        Gauge,
        "outbox_provisioner_retries_pending",
        "Gateways waiting for a retry after a failure, as of the last sweep",
    ),
    # Labelled by partition: at most P series (the partition count `outbox init` records).
    "partition_owned": MetricDefinition(
        Gauge,
        "outbox_provisioner_partition_owned",
        "1 while this provisioner owns the partition, else 0 (partitioned stores)",
        ("partition",),
    ),
    "in_flight": MetricDefinition(
        Gauge,
        "outbox_provisioner_in_flight",
        "Gateways queued or being handled by this process",
    ),
    "reconciles": MetricDefinition(
        Counter,
        "outbox_provisioner_reconciles",
        "Gateways reconciled, by what brought them (stream, watch, sweep, resync, timer)",
        ("trigger",),
    ),
    "resyncs": MetricDefinition(
        Counter, "outbox_provisioner_resyncs", "Full resyncs of the Started gateways"
    ),
    "api_requests": MetricDefinition(
        Counter,
        "outbox_provisioner_api_requests",
        "Kubernetes API requests sent, by verb (get, patch, delete, list, watch)",
        ("verb",),
    ),
    "watch_events": MetricDefinition(
        Counter,
        "outbox_provisioner_watch_events",
        "Watch events received (bookmarks not counted), by kind",
        ("kind",),
    ),
    "relists": MetricDefinition(
        Counter,
        "outbox_provisioner_relists",
        "Lists after the first (a watch answered 410 Gone), by kind",
        ("kind",),
    ),
    "cache_objects": MetricDefinition(
        Gauge, "outbox_provisioner_cache_objects", "Objects held in the cluster cache"
    ),
    "seconds_since_watch_event": MetricDefinition(
        Gauge,
        "outbox_provisioner_seconds_since_watch_event",
        "Seconds since the last watch event of a kind (since the start before the first)",
        ("kind",),
    ),
}


class ProvisionerMetrics:
    events_handled: Counter
    dead_lettered: Counter
    reconcile_seconds: Histogram
    steps: Counter
    step_triggers: Counter
    timeouts: Counter
    backend_outages: Counter
    gateways: Gauge
    retries_pending: Gauge
    in_flight: Gauge
    partition_owned: Gauge
    reconciles: Counter
    resyncs: Counter
    api_requests: Counter
    watch_events: Counter
    relists: Counter
    cache_objects: Gauge
    seconds_since_watch_event: Gauge

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        register(self, METRICS, self.registry)
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        for event_type in EventType:
            for outcome in OUTCOMES:
                self.events_handled.labels(str(event_type), outcome)
        for kind in DEAD_LETTER_KINDS:
            self.dead_lettered.labels(kind)
        self._steps_at_zero()
        for reason in TIMEOUT_REASONS:
            self.timeouts.labels(reason)
        for backend in BACKENDS:
            self.backend_outages.labels(backend)
        for trigger in TRIGGERS:
            self.reconciles.labels(trigger)
        for verb in VERBS:
            self.api_requests.labels(verb)
        for kind in KINDS:
            self.watch_events.labels(kind)
            self.relists.labels(kind)

    def _steps_at_zero(self) -> None:
        for phase in Phase:
            self.steps.labels(str(phase))
        for phase, trigger in product(Phase, TRIGGERS):
            self.step_triggers.labels(str(phase), trigger)
