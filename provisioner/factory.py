"""Assembles a provisioner from its settings and the backends it is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from outbox.coordination.membership import Membership
from outbox.coordination.ownership import PartitionOwnership
from outbox.coordination.partition_count import read_record
from outbox.domain.actors import provisioner_actor
from outbox.domain.backoff import backoff
from outbox.domain.clock import Clock, utcnow
from outbox.domain.deadlines import Timeouts
from outbox.domain.model import Gateway
from outbox.store.port import Store
from outbox.stream import EventStream, StreamConfig
from provisioner.cluster.cached import CachedCluster
from provisioner.cluster.counted import CountedCluster
from provisioner.cluster.informer import Informer
from provisioner.cluster.object_cache import ObjectCache
from provisioner.cluster.port import KINDS, Cluster, WatchableCluster, watchable
from provisioner.cluster.traced import TracedCluster
from provisioner.daemon import Parts, Provisioner, Wait
from provisioner.decide import Config, Step
from provisioner.heartbeat import Heartbeat
from provisioner.metrics import ProvisionerMetrics
from provisioner.partition_work import Partitioning
from provisioner.reconciler import Reconciler
from provisioner.settings import ProvisionerSettings
from provisioner.shares import LeasedPartitions, Share, SharedPartition
from provisioner.sweeper import Sweeper
from provisioner.timers import Timers, next_look
from provisioner.triggers import Triggers


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
    names (group, consumer, dead-letter stream). A cluster that can watch is observed through
    a watch-fed cache unless OUTBOX_CLUSTER_CACHE=off."""
    metrics = metrics or ProvisionerMetrics()
    parts = build_parts(settings, store, stream, cluster, metrics, clock=clock, monotonic=monotonic)
    return Provisioner(
        settings=settings,
        parts=parts,
        metrics=metrics,
        clock=clock,
        monotonic=monotonic,
        wait=wait,
    )


def build_parts(
    settings: ProvisionerSettings,
    store: Store,
    stream: EventStream,
    cluster: Cluster,
    metrics: ProvisionerMetrics,
    *,
    clock: Clock,
    monotonic: Callable[[], float],
) -> Parts:
    """The provisioner's collaborators; its share of the stream is learnt once MongoDB answers."""
    observed, informer = observe(settings, cluster, metrics, monotonic=monotonic)
    timers = Timers()
    triggers = Triggers()
    timeouts = _timeouts(settings)
    group_stream = stream.with_config(stream_config(settings))
    membership = build_membership(settings, store, clock=clock)
    heartbeat = Heartbeat(membership, clock=clock)
    share = partial(share_of, settings, store, group_stream, heartbeat, metrics, clock=clock)
    partitioning = Partitioning(share)
    reconciler = build_reconciler(
        settings,
        store,
        observed,
        clock=clock,
        on_step=_step_counter(metrics, triggers),
        on_rest=lambda gateway: timers.add(gateway.id, next_look(gateway, timeouts)),
        owns=partitioning.owns,
    )
    return Parts(
        stream=group_stream,
        reconciler=reconciler,
        sweeper=Sweeper(store, owned=partitioning.owned),
        heartbeat=heartbeat,
        partitioning=partitioning,
        triggers=triggers,
        timers=timers,
        informer=informer,
    )


def share_of(
    settings: ProvisionerSettings,
    store: Store,
    stream: EventStream,
    heartbeat: Heartbeat,
    metrics: ProvisionerMetrics,
    *,
    clock: Clock,
) -> Share:
    """This replica's share of the stream: its partitions where `outbox init` recorded them,
    else the one partition every replica shares."""
    record = read_record(store)
    if record is None:
        return SharedPartition(stream, heartbeat)
    ownership = PartitionOwnership(
        store,
        role="provisioner",
        owner=settings.consumer,
        stream=settings.stream,
        partitions=record.count,
        lease_seconds=settings.partition_lease_seconds,
        clock=clock,
        membership=heartbeat.membership,
    )
    return LeasedPartitions(ownership, stream, on_balance=_owned_gauges(metrics, record.count))


def _owned_gauges(metrics: ProvisionerMetrics, partitions: int) -> Callable[[frozenset[int]], None]:
    def report(owned: frozenset[int]) -> None:
        for n in range(partitions):
            metrics.partition_owned.labels(str(n)).set(1 if n in owned else 0)

    return report


def _step_counter(
    metrics: ProvisionerMetrics, triggers: Triggers
) -> Callable[[Gateway, Step], None]:
    def count(gateway: Gateway, step: Step) -> None:
        if step.commit is not None:
            phase = str(step.commit.phase)
            metrics.steps.labels(phase).inc()
            metrics.step_triggers.labels(phase, triggers.of(gateway.id)).inc()
        if step.timed_out is not None:
            metrics.timeouts.labels(step.timed_out).inc()

    return count


def observe(
    settings: ProvisionerSettings,
    cluster: Cluster,
    metrics: ProvisionerMetrics,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[Cluster, Informer | None]:
    """The cluster as the reconciler sees it: requests counted, and, for a cluster that can
    watch and unless OUTBOX_CLUSTER_CACHE=off, read from a watch-fed cache."""
    # Traced below the cache: a span per request that reaches the API, none for cached reads.
    traced = TracedCluster(cluster)
    counted = CountedCluster(traced, lambda verb: metrics.api_requests.labels(verb).inc())
    if settings.cluster_cache == "off" or watchable(cluster) is None:
        return counted, None
    informer = build_informer(settings, counted, metrics, monotonic=monotonic)
    return CachedCluster(counted, informer), informer


def build_informer(
    settings: ProvisionerSettings,
    cluster: WatchableCluster,
    metrics: ProvisionerMetrics,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> Informer:
    cache = ObjectCache()
    informer = Informer(
        cluster,
        cache,
        timeout_seconds=settings.watch_timeout,
        monotonic=monotonic,
        on_event=lambda kind: metrics.watch_events.labels(kind).inc(),
        on_relist=lambda kind: metrics.relists.labels(kind).inc(),
    )
    metrics.cache_objects.set_function(lambda: len(cache))
    for kind in KINDS:
        gauge = metrics.seconds_since_watch_event.labels(kind)
        gauge.set_function(lambda kind=kind: informer.seconds_since_event(kind))  # type: ignore[misc]
    return informer


def _timeouts(settings: ProvisionerSettings) -> Timeouts:
    return Timeouts(settings.start_timeout, settings.stop_timeout, settings.delete_timeout)


def build_reconciler(
    settings: ProvisionerSettings,
    store: Store,
    cluster: Cluster,
    *,
    clock: Clock,
    on_step: Callable[[Gateway, Step], None],
    on_rest: Callable[[Gateway], None] = lambda gateway: None,
    owns: Callable[[str], bool] = lambda gateway_id: True,
) -> Reconciler:
    return Reconciler(
        store=store,
        cluster=cluster,
        config=Config(
            namespace=cluster.namespace,
            timeouts=_timeouts(settings),
            policy=settings.workload_policy,
        ),
        delay=lambda attempt: backoff(
            attempt, base=settings.backoff_base, cap=settings.backoff_cap
        ),
        clock=clock,
        on_step=on_step,
        on_rest=on_rest,
        actor=provisioner_actor(settings.consumer),
        owns=owns,
    )


def build_membership(settings: ProvisionerSettings, store: Store, *, clock: Clock) -> Membership:
    return Membership(
        store,
        role="provisioner",
        name=settings.consumer,
        interval=settings.heartbeat_interval,
        clock=clock,
    )
