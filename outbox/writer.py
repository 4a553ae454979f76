"""The writer API: user intent committed with its outbox event in one transaction.

Every write reads the gateway inside the transaction, decides with `outbox.domain.transitions`, and
commits a compare-and-set on `version` together with exactly one event (`outbox.store.commit`).
A compare-and-set lost to a concurrent writer (often the provisioner) is retried from a fresh
read; with `expected_version` the caller asked for strict optimistic locking, and a mismatch is
a conflict.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from outbox.coordination.partition_count import CachedCount
from outbox.domain import transitions
from outbox.domain.actors import check_actor, python_actor
from outbox.domain.clock import Clock, utcnow
from outbox.domain.errors import (
    CommitOutcomeUnknown,
    EventVersionTaken,
    InvalidInput,
    NameTaken,
    StaleWrite,
    VersionConflict,
)
from outbox.domain.events import TRACEPARENT, TRACESTATE, EventType, OutboxEvent
from outbox.domain.model import (
    Environment,
    Gateway,
    GatewaySpec,
    Phase,
    State,
    check_name,
    new_gateway_id,
)
from outbox.domain.partitions import partition_of
from outbox.runtime import tracing
from outbox.store.commit import Commit, Extra, Guard, NewEvent
from outbox.store.port import Collections, DuplicateKey, Store
from outbox.store.repository import UnitOfWork

log = logging.getLogger(__name__)

UNSET: Any = object()
Decision = Callable[[Gateway, datetime], transitions.Change]


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = utcnow,
        new_id: Callable[[], str] = new_gateway_id,
        attempts: int = 8,
        actor: str | None = None,
        extra: Extra | None = None,
    ) -> None:
        """`actor` is who the changes are recorded as made by (`outbox.domain.actors`): by default
        `python:USER@HOST`; the command line and the HTTP API give their own."""
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._attempts = attempts
        self.actor = python_actor() if actor is None else _valid(check_actor, actor)
        self._extra = extra
        self._partitions = CachedCount(store)

    def with_actor(self, actor: str, *, extra: Extra | None = None) -> Writer:
        """The same writer, recording its changes as made by `actor` (one per API request), with
        its own `extra`; it shares this writer's cached partition count."""
        writer = Writer(
            self._store,
            clock=self._clock,
            new_id=self._new_id,
            attempts=self._attempts,
            actor=actor,
            extra=extra,
        )
        writer._partitions = self._partitions
        return writer

    # -- writes ---------------------------------------------------------------------------------

    def create(
        self, name: str, spec: GatewaySpec | Mapping[str, Any], *, stopped: bool = False
    ) -> Gateway:
        name = _valid(check_name, name)
        spec = spec if isinstance(spec, GatewaySpec) else parse_spec(spec)
        gateway_id = self._new_id()
        # P as recorded (read again every few seconds): a gateway is stamped once, at create.
        partition = partition_of(gateway_id, self._partitions.count())

        def work(collections: Collections) -> Gateway:
            uow = UnitOfWork(collections)
            # One read for the common refusal (and nx-27017 stores the read concern of a
            # transaction that starts with an insert as a document). The host, and a concurrent
            # create, are left to the unique indexes; a new gateway has no environments to read.
            _require_free(uow, gateway_id, name=name)
            change = transitions.create(gateway_id, name, spec, stopped=stopped, now=self._clock())
            change = replace(change, gateway=change.gateway.evolve(partition=partition))
            return self._recorded(None, change).write(collections)

        try:
            gateway = self._commit(work, name)
        except NameTaken:
            # Refused and rolled back; look up the holder only to say who it is.
            _require_free(UnitOfWork(self._store), gateway_id, name=name, host=spec.host)
            raise
        log.debug("created gateway %s (%s) state=%s", gateway.id, gateway.name, gateway.state)
        return gateway

    def start(self, ref: str, *, expected_version: int | None = None) -> Gateway:
        return self._write(ref, lambda gw, now: transitions.start(gw, now=now), expected_version)

    def stop(self, ref: str, *, expected_version: int | None = None) -> Gateway:
        return self._write(ref, lambda gw, now: transitions.stop(gw, now=now), expected_version)

    def restart(self, ref: str, *, expected_version: int | None = None) -> Gateway:
        return self._write(ref, lambda gw, now: transitions.restart(gw, now=now), expected_version)

    def delete(self, ref: str, *, expected_version: int | None = None) -> Gateway:
        return self._write(ref, lambda gw, now: transitions.delete(gw, now=now), expected_version)

    def update(
        self,
        ref: str,
        *,
        image: str = UNSET,
        replicas: int = UNSET,
        port: int = UNSET,
        host: str | None = UNSET,
        environments: tuple[str, ...] | list[str] = UNSET,
        expected_version: int | None = None,
    ) -> Gateway:
        """Change the fields given; `host=None` removes the host (and so the Ingress)."""
        changes = {
            key: value
            for key, value in {
                "image": image,
                "replicas": replicas,
                "port": port,
                "host": host,
                "environments": environments,
            }.items()
            if value is not UNSET
        }
        if not changes:
            raise InvalidInput(
                "nothing to update: give at least one of image, replicas, port, host, environments"
            )

        def decide(gateway: Gateway, now: datetime) -> transitions.Change:
            spec = parse_spec({**gateway.spec.model_dump(), **changes})
            return transitions.update(gateway, spec, now=now)

        return self._write(ref, decide, expected_version)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, ref: str) -> Gateway:
        return UnitOfWork(self._store).gateways.resolve(ref)

    def list(
        self, *, state: State | None = None, phase: Phase | None = None
    ) -> builtins.list[Gateway]:
        return UnitOfWork(self._store).gateways.list(state=state, phase=phase)

    # `builtins.list`: inside the class, `list` is the method above.
    def environments(self, ref: str) -> builtins.list[Environment]:
        uow = UnitOfWork(self._store)
        return uow.environments.of(uow.gateways.resolve(ref).id)

    def events(self, ref: str) -> builtins.list[OutboxEvent]:
        uow = UnitOfWork(self._store)
        return uow.events.of(uow.gateways.resolve(ref).id)

    # -- the commit loop ------------------------------------------------------------------------

    def _write(self, ref: str, decide: Decision, expected_version: int | None) -> Gateway:
        def work(collections: Collections) -> Gateway:
            uow = UnitOfWork(collections)
            current = uow.gateways.resolve(ref)
            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(current.id, expected_version, current.version)
            commit = self._recorded(current, decide(current, self._clock()))
            host = commit.after.live_host
            if host is not None and host != current.live_host:
                _require_free(uow, current.id, host=host)
            return commit.write(collections)

        lost: StaleWrite | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                gateway = self._commit(work, ref)
            except StaleWrite as error:
                if expected_version is not None and not isinstance(error, EventVersionTaken):
                    # Lost to a commit after our read: report the version stored now, not a guess.
                    current = self.get(ref)
                    raise VersionConflict(current.id, expected_version, current.version) from None
                log.debug("%s on %s (attempt %d), re-reading", error, ref, attempt)
                lost = error
                continue
            log.debug(
                "gateway %s (%s) v%d state=%s",
                gateway.id,
                gateway.name,
                gateway.version,
                gateway.state,
            )
            return gateway
        if isinstance(lost, EventVersionTaken):
            raise EventVersionTaken(f"{lost}; gave up after {self._attempts} attempts")
        raise StaleWrite(f"gateway {ref} kept changing; gave up after {self._attempts} attempts")

    def _recorded(self, before: Gateway | None, change: transitions.Change) -> Commit:
        """The change as committed: the gateway stamped with who changed it and the trace of the
        change (the current one, which the provisioner's steps continue), guarded by the version
        read, with its event, which carries both, and the caller's `extra`."""
        trace = tracing.trace_fields()
        stamp = {
            "updated_by": self.actor,
            "traceparent": trace.get(TRACEPARENT),
            "tracestate": trace.get(TRACESTATE),
        }
        if change.event_type is EventType.CREATED:
            stamp["created_by"] = self.actor
        commit = Commit(
            before,
            change.gateway.model_copy(update=stamp),
            NewEvent(change.event_type, change.payload, actor=self.actor, trace=trace),
            guard=None if before is None else Guard(before.version),
            extra=self._extra,
        )
        event = commit.outbox_event
        assert event is not None  # every write of the writer records its event
        tracing.describe_write(event)
        return commit

    def _commit(self, work: Callable[[Collections], Gateway], ref: str) -> Gateway:
        try:
            with tracing.write_span(ref):
                return self._store.transaction(work)
        except CommitOutcomeUnknown as error:
            raise error.checked_with(f"check with `outbox gateway get {ref}`") from error
        except DuplicateKey as error:
            raise _refused_by_index(error, ref) from error


def parse_spec(values: Mapping[str, Any]) -> GatewaySpec:
    try:
        return GatewaySpec.model_validate(dict(values))
    except ValidationError as error:
        raise InvalidInput(describe(error)) from None


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field: `replicas: must be at most 100`."""
    problems = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"] if not isinstance(part, int))
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}" if field else message)
    return "; ".join(problems)


def _valid(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except (ValueError, TypeError) as error:
        raise InvalidInput(str(error)) from None


def _require_free(
    uow: UnitOfWork, gateway_id: str, *, name: str | None = None, host: str | None = None
) -> None:
    if name is not None and (holder := uow.gateways.by_live_name(name)) is not None:
        raise NameTaken(
            f"name {name!r} is used by gateway {holder.id} (state {holder.state}, phase "
            f"{holder.phase}); it becomes free once that gateway is Deleted"
        )
    holder = uow.gateways.by_live_host(host) if host is not None else None
    if holder is not None and holder.id != gateway_id:
        raise NameTaken(f"host {host!r} is used by gateway {holder.name} ({holder.id})")


def _refused_by_index(error: DuplicateKey, ref: str) -> StaleWrite | NameTaken:
    """The unique index caught a race the read-time checks could not see; say which one."""
    if error.key in ("live_name", "live_host"):
        what = "host" if error.key == "live_host" else "name"
        return NameTaken(f"that {what} is already used by another live gateway")
    if error.key in ("aggregate_id", "version"):
        return EventVersionTaken(
            f"the outbox already holds an event of gateway {ref} at the version being written"
        )
    # `_id`: a gateway or event id collided (or a store that cannot name the index).
    return StaleWrite(f"a unique index ({error.key}) refused the write to gateway {ref}")
