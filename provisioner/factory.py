"""Assembles a provisioner from its settings and the backends it is given."""

from __future__ import annotations

import time
from collections.abc import Callable

from outbox.backoff import backoff
from outbox.clock import Clock, utcnow
from outbox.deadlines import Timeouts
from outbox.membership import Membership
from outbox.model import Gateway
from outbox.store import Store
from outbox.stream import EventStream, StreamConfig
from provisioner.cluster import Cluster
from provisioner.daemon import Provisioner, Wait
from provisioner.decide import Config, Step
from provisioner.metrics import ProvisionerMetrics
from provisioner.reconciler import Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.sweeper import Sweeper


def stream_config(settings: ProvisionerSettings) -> StreamConfig:
    """The stream as this provisioner consumes it."""
    return StreamConfig(
        stream=settings.stream,
        group=settings.group,
        consumer=settings.consumer,
        dead_letters=settings.dead_letter_stream,
        dead_letters_maxlen=settings.dlq_maxlen,
    )


def build_provisioner(
    settings: ProvisionerSettings,
    *,
    store: Store,
    stream: EventStream,
    cluster: Cluster,
    clock: Clock = utcnow,
    metrics: ProvisionerMetrics | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    wait: Wait | None = None,
) -> Provisioner:
    """`stream` may be any view of the backend: the provisioner sees it with its settings'
    names (group, consumer, dead-letter stream)."""
    metrics = metrics or ProvisionerMetrics()

    def count(gateway: Gateway, step: Step) -> None:
        if step.commit is not None:
            metrics.steps.labels(str(step.commit.phase)).inc()
        if step.timed_out is not None:
            metrics.timeouts.labels(step.timed_out).inc()

    return Provisioner(
        settings=settings,
        stream=stream.with_config(stream_config(settings)),
        reconciler=build_reconciler(settings, store, cluster, clock=clock, on_step=count),
        sweeper=Sweeper(store),
        membership=build_membership(settings, store, clock=clock),
        metrics=metrics,
        clock=clock,
        monotonic=monotonic,
        wait=wait,
    )


def build_reconciler(
    settings: ProvisionerSettings,
    store: Store,
    cluster: Cluster,
    *,
    clock: Clock,
    on_step: Callable[[Gateway, Step], None],
) -> Reconciler:
    return Reconciler(
        store=store,
        cluster=cluster,
        config=Config(
            namespace=cluster.namespace,
            timeouts=Timeouts(
                settings.start_timeout, settings.stop_timeout, settings.delete_timeout
            ),
        ),
        delay=lambda attempt: backoff(
            attempt, base=settings.backoff_base, cap=settings.backoff_cap
        ),
        clock=clock,
        on_step=on_step,
    )


def build_membership(settings: ProvisionerSettings, store: Store, *, clock: Clock) -> Membership:
    return Membership(
        store,
        role="provisioner",
        name=settings.consumer,
        interval=settings.heartbeat_interval,
        clock=clock,
    )
