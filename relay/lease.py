"""Relay leadership: one lease document in MongoDB (see `outbox.coordination.lease_holder`, which
partition ownership shares with the provisioner)."""

from __future__ import annotations

from outbox.coordination.lease_holder import TRUSTED_SHARE, Lease

__all__ = ["TRUSTED_SHARE", "Lease"]
