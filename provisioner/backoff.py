"""Exponential back-off with full jitter, as a pure function of the attempt number."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = first retry).

    Half the delay is fixed and half is random, so many gateways failing together (an API server
    restart) do not retry in lockstep, yet no retry comes sooner than half the nominal delay.
    """
    nominal = min(cap, base * 2.0 ** max(0, attempt - 1))
    return nominal / 2 + nominal / 2 * jitter()
