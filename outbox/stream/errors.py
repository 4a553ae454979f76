"""Typed errors of the stream port: adapters translate every backend failure into these."""

from __future__ import annotations

from outbox.domain.errors import BackendUnavailable, Conflict, OutboxError


class StreamUnavailable(BackendUnavailable):
    """The stream cannot take the call right now (down, loading, out of memory); retry later."""


class LeaseLost(Conflict):
    """The caller no longer holds the lease it works under: another holder is (or may be) at
    work. The relay raises it itself; the stream raises its `Fenced` kind."""


class Fenced(LeaseLost):
    """The stream refused a publish: a holder with a newer lease token has published since."""


class MarksUnseeded(OutboxError):
    """The stream holds entries but no high-water marks yet (it was written by a release that
    kept one dedupe key per event): seed them (`relay.seeding`) before publishing."""


class ReplicasBehind(StreamUnavailable):
    """A publish reached the master, but fewer replicas than OUTBOX_REDIS_WAIT_REPLICAS said they
    hold it in time: it does not count as published yet (a failover now could lose it), so the
    relay retries the batch, which the high-water marks make harmless."""
