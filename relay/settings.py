"""The relay's settings: `OUTBOX_*` variables on top of the shared ones, one frozen object."""

from __future__ import annotations

import os
import socket

from pydantic import Field, model_validator

from outbox.runtime.settings import CommonSettings


def default_relay_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class RelaySettings(CommonSettings):
    batch_size: int = Field(
        2000, ge=1, le=10_000, description="events fetched and published per batch"
    )
    lease_seconds: float = Field(
        15.0,
        gt=0,
        description="seconds a relay's lease lasts; a standby takes over after it expires",
    )
    stream_maxlen: int = Field(
        1_000_000, ge=0, description="approximate length the stream is trimmed to (0 = never trim)"
    )
    max_entry_bytes: int = Field(
        1 << 20, ge=1024, description="largest stream entry; a bigger event is rejected and parked"
    )
    max_publish_attempts: int = Field(
        5, ge=1, description="rejections by Redis after which an event is parked"
    )
    relay_id: str = Field(
        default_factory=default_relay_id, min_length=1, description="this relay's name in the lease"
    )
    metrics_port: int = Field(
        9101, ge=0, le=65535, description="port of /metrics, /healthz, /readyz"
    )
    poll_min: float = Field(
        0.005, gt=0, description="seconds to wait after a batch that found work"
    )
    poll_max: float = Field(0.2, gt=0, description="longest wait between polls when idle")
    redis_wait_replicas: int = Field(
        0,
        ge=0,
        description="replicas that must acknowledge each publish (WAIT) before it counts; 0 = off",
    )
    redis_wait_timeout: float = Field(
        1.0, gt=0, description="seconds a publish waits for those replicas before it is retried"
    )
    stats_interval: float = Field(
        30.0, gt=0, description="seconds between backlog counts (a full count is not cheap)"
    )

    @model_validator(mode="after")
    def _poll_bounds(self) -> RelaySettings:
        if self.poll_max < self.poll_min:
            raise ValueError("OUTBOX_POLL_MAX must be at least OUTBOX_POLL_MIN")
        return self
