"""One commit of a gateway: the document under compare-and-set, its environments, its outbox
event and the caller's own records, in one transaction.

The writer (user intent) and the provisioner's reconciler (actual phase) both describe what
they commit as a `Commit` and run it here. A guard that matches nothing raises StaleWrite, which
aborts the transaction: nothing of the commit is written, and the caller decides what a lost
compare-and-set means to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from outbox.domain.events import EventType, OutboxEvent
from outbox.domain.model import EnvironmentState, Gateway, Phase
from outbox.store.port import Collections, Store
from outbox.store.repository import UnitOfWork

# Runs inside the commit's transaction, after its other writes, with the gateway as written: a
# caller stores its own record of the change (the HTTP API's idempotency keys) atomically with it.
Extra = Callable[[Collections, Gateway], None]


@dataclass(frozen=True)
class Guard:
    """What the stored gateway must still be for the commit to apply: the version that was
    read, and (for the provisioner, whose step depends on it) the phase."""

    version: int
    phase: Phase | None = None


@dataclass(frozen=True)
class NewEvent:
    """The outbox event of a commit. Its gateway, version, time and partition are those of the
    gateway as written, so an event cannot disagree with its change."""

    type: EventType
    payload: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None
    trace: Mapping[str, str] = field(default_factory=dict)

    def about(self, gateway: Gateway) -> OutboxEvent:
        return OutboxEvent.for_gateway(
            gateway.id,
            self.type,
            version=gateway.version,
            at=gateway.updated_at,
            payload=self.payload,
            actor=self.actor,
            trace=self.trace,
            partition=gateway.partition,
        )


@dataclass(frozen=True)
class EnvironmentsChange:
    """What happens to the gateway's environments besides following its spec (which every
    commit does): all of them set to `state`, or all of them removed."""

    state: EnvironmentState | None = None
    remove: bool = False


NO_ENVIRONMENTS_CHANGE = EnvironmentsChange()


@dataclass(frozen=True)
class Commit:
    """A gateway before and after a change, committed with its event under a guard.

    `before` None is a new gateway: inserted, with no guard (the unique indexes refuse a second
    one). Otherwise the gateway is replaced only where the stored one still matches `guard`.
    The environments follow `after.spec.environments` (new ones Inactive), then `environments`.
    """

    before: Gateway | None
    after: Gateway
    event: NewEvent | None
    guard: Guard | None = None
    environments: EnvironmentsChange = NO_ENVIRONMENTS_CHANGE
    extra: Extra | None = None

    def __post_init__(self) -> None:
        if (self.before is None) != (self.guard is None):
            raise ValueError("a new gateway is inserted unguarded; a stored one needs a guard")
        if self.before is not None and self.before.id != self.after.id:
            raise ValueError(f"gateway {self.before.id} cannot become {self.after.id}")

    @cached_property
    def outbox_event(self) -> OutboxEvent | None:
        """The event as it is written (made once: its id is the same on every look)."""
        return None if self.event is None else self.event.about(self.after)

    def run(self, store: Store) -> Gateway:
        """The commit in a transaction of its own."""
        return store.transaction(self.write)

    def write(self, collections: Collections) -> Gateway:
        """The commit's writes into `collections`: a transaction the caller opened (and may
        have read in first). Returns the gateway as written."""
        uow = UnitOfWork(collections)
        self._write_gateway(uow)
        self._write_environments(uow)
        if self.outbox_event is not None:
            uow.events.add(self.outbox_event)
        if self.extra is not None:
            self.extra(collections, self.after)
        return self.after

    def _write_gateway(self, uow: UnitOfWork) -> None:
        if self.guard is None:
            uow.gateways.insert(self.after)
        else:
            uow.gateways.replace(
                self.after, expected_version=self.guard.version, expected_phase=self.guard.phase
            )

    def _write_environments(self, uow: UnitOfWork) -> None:
        gateway_id = self.after.id
        names = self.after.spec.environments
        if self.before is None:
            # A new gateway has no environments to read.
            uow.environments.add(gateway_id, names)
        elif names != self.before.spec.environments:
            uow.environments.sync(gateway_id, names)
        if self.environments.state is not None:
            uow.environments.set_state(gateway_id, self.environments.state)
        if self.environments.remove:
            uow.environments.remove(gateway_id)
