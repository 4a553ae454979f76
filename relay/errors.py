"""Errors of the relay, on top of the product's typed errors.

The publisher adapter translates Redis failures into these, so the loop never sees a library
exception.
"""

from __future__ import annotations

from outbox.errors import BackendUnavailable, Conflict


class PublishUnavailable(BackendUnavailable):
    """Redis cannot take the batch right now (down, loading, out of memory); retry later."""


class LeaseLost(Conflict):
    """This relay no longer holds the lease: another relay is (or may be) publishing."""


class Fenced(LeaseLost):
    """Redis refused the batch: a relay with a newer lease token has published since."""
