"""Gateways seeded the fast way, as if the pipeline had provisioned them: their documents straight
into the store and their objects straight into the emulator.

Going through the writer, the relay and the provisioner costs seconds per hundred gateways on
nx-27017; tests and benchmarks about a provisioner at rest need only the end state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from outbox.domain.model import Gateway, Phase, State
from outbox.store.port import Store
from provisioner.cluster.port import Manifest
from provisioner.manifests import desired_objects
from tests.support.gateways import make_gateway

NAMESPACE = "gateways"
INSERT_BATCH = 500  # documents per insert_many: one request each over the wire


def gateway(n: int, *, phase: Phase = Phase.STARTED, **spec: Any) -> Gateway:
    """The n-th seeded gateway: `g{n}`, its spec applied; Started unless told otherwise."""
    now = datetime.now(UTC)
    return make_gateway(f"g{n}", gateway_id=f"gw_{n:016x}", **spec).evolve(
        phase=phase,
        state=State.RUNNING,
        applied_spec_version=1 if phase is not Phase.CREATED else 0,
        ever_started=phase is Phase.STARTED,
        phase_changed_at=now,
        created_at=now,
        updated_at=now,
    )


def gateways(count: int, *, phase: Phase = Phase.STARTED, **spec: Any) -> list[Gateway]:
    return [gateway(n, phase=phase, **spec) for n in range(count)]


def insert(store: Store, seeded: Sequence[Gateway]) -> None:
    """Their documents, in a few requests (no events: nothing is left for the relay)."""
    documents = [one.to_document() for one in seeded]
    for first in range(0, len(documents), INSERT_BATCH):
        store.collection("gateways").insert_many(documents[first : first + INSERT_BATCH])


def objects(
    seeded: Sequence[Gateway], *, start_timeout: float, namespace: str = NAMESPACE
) -> list[Manifest]:
    """Their objects as the provisioner renders them (with its start timeout, which the
    Deployment carries), for the emulator's `put`."""
    return [
        manifest
        for one in seeded
        for manifest in desired_objects(
            one, namespace=namespace, start_timeout_seconds=int(start_timeout)
        )
    ]
