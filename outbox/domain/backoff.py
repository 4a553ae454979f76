"""How long to wait before the next retry: exponential back-off with equal jitter.

A pure function; the caller supplies the attempt count and the random source.
"""

from __future__ import annotations

import random as random_module
from collections.abc import Callable


def backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    random: Callable[[], float] = random_module.random,
) -> float:
    """Seconds before retry number `attempt` (1 = first retry; 0 or less: none).

    The nominal delay doubles from `base` up to `cap`. "Equal jitter": half of it is fixed and
    half random, so callers that failed together (relays, gateways after an API server restart)
    do not retry together, and no retry comes sooner than half the nominal delay.
    """
    if attempt < 1:
        return 0.0
    nominal = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return nominal / 2 + random() * nominal / 2
