"""Assembles a provisioner from its settings and the backends it is given."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from outbox.backoff import backoff
from outbox.clock import Clock, utcnow
from outbox.deadlines import Timeouts
from outbox.membership import Membership
from outbox.model import Gateway
from outbox.store import Store
from provisioner.cluster import Cluster
from provisioner.daemon import Provisioner, Wait
from provisioner.decide import Config, Step
from provisioner.metrics import ProvisionerMetrics
from provisioner.reconciler import Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.stream import GroupStream
from provisioner.sweeper import Sweeper


def build_provisioner(
    settings: ProvisionerSettings,
    *,
    store: Store,
    redis_client: redis.Redis[str],
    cluster: Cluster,
    clock: Clock = utcnow,
    metrics: ProvisionerMetrics | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    wait: Wait | None = None,
) -> Provisioner:
    metrics = metrics or ProvisionerMetrics()

    def count(gateway: Gateway, step: Step) -> None:
        if step.commit is not None:
            metrics.steps.labels(str(step.commit.phase)).inc()
        if step.timed_out is not None:
            metrics.timeouts.labels(step.timed_out).inc()

    reconciler = Reconciler(
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
        on_step=count,
    )
    stream = GroupStream(
        redis_client,
        stream=settings.stream,
        group=settings.group,
        consumer=settings.consumer,
        dead_letters=settings.dead_letter_stream,
        dead_letters_maxlen=settings.dlq_maxlen,
    )
    membership = Membership(
        store,
        role="provisioner",
        name=settings.consumer,
        interval=settings.heartbeat_interval,
        clock=clock,
    )
    return Provisioner(
        settings=settings,
        stream=stream,
        reconciler=reconciler,
        sweeper=Sweeper(store),
        membership=membership,
        metrics=metrics,
        clock=clock,
        monotonic=monotonic,
        wait=wait,
    )
