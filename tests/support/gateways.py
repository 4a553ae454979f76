"""Gateway documents as the writer would store them, to render and reconcile without a store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from outbox.domain.model import Gateway, GatewaySpec, Phase, State
from outbox.store.port import GATEWAYS, Store


def make_gateway(
    name: str = "edge",
    *,
    gateway_id: str = "gw_0123456789abcdef",
    restart_stamp: int = 0,
    **spec: Any,
) -> Gateway:
    """A gateway document as the writer would store it; `spec` overrides the defaults."""
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    values: dict[str, Any] = {"image": "nginx:1.27", **spec}
    gateway_spec = GatewaySpec(**values)
    return Gateway.model_validate(
        {
            "_id": gateway_id,
            "name": name,
            "live_name": name,
            "host": gateway_spec.host,
            "live_host": gateway_spec.host,
            "spec": gateway_spec,
            "spec_version": 1,
            "restart_stamp": restart_stamp,
            "state": State.RUNNING,
            "phase": Phase.STARTING,
            "version": 2,
            "phase_changed_at": at,
            "created_at": at,
            "updated_at": at,
        }
    )


def phases(store: Store) -> Counter[str]:
    """How many gateways the store holds in each phase."""
    return Counter(document["phase"] for document in store.collection(GATEWAYS).find({}))
