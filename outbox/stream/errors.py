"""Typed errors of the stream port: adapters translate every backend failure into these."""

from __future__ import annotations

from outbox.errors import BackendUnavailable, Conflict, OutboxError


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
