"""Drives one gateway toward what its user asked for, one idempotent step at a time.

A step is: observe the cluster, decide (`provisioner.decide`), apply or delete in the cluster,
then commit the next document and its event in one transaction guarded by version and phase
(`outbox.store.commit`, the unit the writer commits by too).
A crash anywhere repeats the step; a lost compare-and-set means somebody else moved the gateway,
so the reconciler simply looks again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from outbox.domain.actors import PROVISIONER
from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import StaleWrite
from outbox.domain.model import Gateway
from outbox.runtime import tracing
from outbox.runtime.logs import ids
from outbox.store.commit import Commit, EnvironmentsChange, Guard, NewEvent
from outbox.store.port import Store
from outbox.store.repository import UnitOfWork
from provisioner.cluster.port import (
    KINDS,
    Cluster,
    ClusterError,
    ForeignObject,
    Manifest,
    PermanentClusterError,
    owned_by,
)
from provisioner.decide import Action, Config, Observed, Step, failed_step, next_step
from provisioner.manifests import object_names
from provisioner.partition_work import NotOwned

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    SETTLED = "settled"  # nothing left to do now (at rest, or waiting for a rollout)
    RETRY = "retry"  # a failure was recorded; the sweeper retries when due
    MISSING = "missing"  # no such gateway
    NOT_OWNED = "not-owned"  # its partition is not this replica's (any more): left to its owner


class Reconciler:
    def __init__(
        self,
        *,
        store: Store,
        cluster: Cluster,
        config: Config,
        delay: Callable[[int], float],
        clock: Clock = utcnow,
        max_steps: int = 8,
        on_step: Callable[[Gateway, Step], None] = lambda gateway, step: None,
        on_rest: Callable[[Gateway], None] = lambda gateway: None,
        actor: str = PROVISIONER,
        owns: Callable[[str], bool] = lambda gateway_id: True,
    ) -> None:
        """`actor` is who the phase changes are recorded as made by: `provisioner:CONSUMER`.
        `owns` says whether this replica may work on a gateway now (its partition's lease):
        asked before each read and each commit."""
        self._store = store
        self._owns = owns
        self._cluster = cluster
        self._config = config
        self._delay = delay
        self._clock = clock
        self._max_steps = max_steps
        self._on_step = on_step
        self._on_rest = on_rest
        self._actor = actor

    def reconcile(self, gateway_id: str) -> Outcome:
        """Steps until the gateway rests; `on_rest` then hears of it as last read (the daemon
        sets a timer for its deadline)."""
        last: list[Gateway] = []
        try:
            outcome = self._steps(gateway_id, last)
        except NotOwned as error:
            log.debug("%s: left to its owner", error)
            return Outcome.NOT_OWNED
        if last:
            self._on_rest(last[-1])
        return outcome

    def _steps(self, gateway_id: str, last: list[Gateway]) -> Outcome:
        looked_again = False
        for _ in range(self._max_steps):
            self._require_owned(gateway_id)
            gateway = UnitOfWork(self._store).gateways.get(gateway_id)
            if gateway is None:
                return Outcome.MISSING
            last.append(gateway)
            if gateway.retry is not None and gateway.retry.next_at > self._clock():
                # Backing off after a failure; new intent clears the retry, so this is only
                # an echo of our own events or a sweep before the retry is due.
                return Outcome.RETRY
            with tracing.step_span(gateway) as span:
                step, failed = self._take_step(gateway)
                tracing.describe_step(span, str(step.action), failed=failed, note=step.note)
                if step.commit is None:
                    # After a cluster call, one more look often finds the next step (the objects
                    # just deleted are gone); more would spin on objects that take time to go.
                    if step.action is Action.NONE or looked_again:
                        return Outcome.SETTLED
                    looked_again = True
                    continue
                try:
                    self._commit(gateway, step)
                except StaleWrite:
                    log.debug("gateway %s moved on while we worked; looking again", gateway_id)
                    continue
                self._on_step(gateway, step)
                last.append(step.commit)
                _log_step(gateway, step)
            if failed:
                return Outcome.RETRY
        return Outcome.SETTLED

    def _require_owned(self, gateway_id: str) -> None:
        if not self._owns(gateway_id):
            raise NotOwned(f"gateway {gateway_id}: its partition is no longer this replica's")

    def _take_step(self, gateway: Gateway) -> tuple[Step, bool]:
        now = self._clock()
        try:
            observed = self._observe(gateway)
            step = next_step(gateway, observed, now, self._config)
            self._execute(gateway, step, observed)
        except ClusterError as error:
            permanent = isinstance(error, PermanentClusterError)
            reason = (
                type(error).__name__
                if isinstance(error, ForeignObject)
                else ("ClusterRejected" if permanent else "ClusterUnavailable")
            )
            log.warning(
                "gateway %s (%s): %s: %s",
                gateway.id,
                gateway.name,
                reason,
                error,
                extra=ids(gateway_id=gateway.id, gateway=gateway.name, error_kind=reason),
            )
            step = failed_step(
                gateway,
                reason=reason,
                message=str(error),
                permanent=permanent,
                now=now,
                delay=self._delay,
                start_timeout=self._config.timeouts.start,
            )
            return step, True
        return step, False

    def _observe(self, gateway: Gateway) -> Observed:
        names = object_names(gateway.name)
        owned, foreign = {}, set()
        for kind in KINDS:
            live = self._cluster.get(kind, names[kind])
            if live is None:
                continue
            if owned_by(live, gateway.id):
                owned[kind] = live
            else:
                foreign.add(kind)
        return Observed(owned=owned, foreign=frozenset(foreign))

    def _execute(self, gateway: Gateway, step: Step, observed: Observed) -> None:
        names = object_names(gateway.name)
        if step.action is Action.DELETE:
            # Only our own objects, and only the very ones we saw: one that lacks our labels,
            # or took the name since we looked, is somebody else's.
            for kind, live in observed.owned.items():
                self._cluster.delete(kind, names[kind], uid=_uid(live))
        elif step.action is Action.APPLY:
            for manifest in step.desired:
                kind = manifest["kind"]
                if kind in observed.foreign:
                    raise ForeignObject(
                        f"{kind} {names[kind]} in namespace {self._config.namespace} exists "
                        "without our labels for this gateway; it is left untouched"
                    )
                self._cluster.apply(manifest)
            wanted = {manifest["kind"] for manifest in step.desired}
            for kind, live in observed.owned.items():
                if kind not in wanted:
                    self._cluster.delete(kind, names[kind], uid=_uid(live))

    def _commit(self, before: Gateway, step: Step) -> None:
        after = step.commit
        assert after is not None
        self._require_owned(after.id)
        event = None
        if step.event is not None:
            payload = {"state": str(after.state), "phase": str(after.phase), **step.payload}
            event = NewEvent(step.event, payload, actor=self._actor, trace=tracing.trace_fields())
        Commit(
            before,
            after,
            event,
            guard=Guard(before.version, phase=before.phase),
            environments=EnvironmentsChange(step.environments, remove=step.remove_environments),
        ).run(self._store)


def _uid(live: Manifest) -> str | None:
    uid = (live.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


def _log_step(gateway: Gateway, step: Step) -> None:
    commit = step.commit
    assert commit is not None  # only committed steps are logged
    log.info(
        "gateway %s (%s) %s -> %s/%s v%d: %s",
        gateway.id,
        gateway.name,
        gateway.phase,
        commit.state,
        commit.phase,
        commit.version,
        step.note,
        extra=ids(
            gateway_id=gateway.id,
            gateway=gateway.name,
            version=commit.version,
            phase=str(commit.phase),
        ),
    )
