"""How long to wait: exponential back-off with jitter during outages, adaptive polling when idle.

Pure functions; the loop supplies the attempt count and the random source.
"""

from __future__ import annotations

from collections.abc import Callable


def backoff(attempt: int, *, base: float, cap: float, random: Callable[[], float]) -> float:
    """Seconds before retry number `attempt` (1, 2, …): doubling from `base`, at most `cap`.

    "Equal jitter": half the delay is fixed, half random, so relays that failed together do not
    retry together and no retry comes immediately.
    """
    if attempt < 1:
        return 0.0
    delay = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return delay / 2 + random() * delay / 2


def poll_wait(idle_polls: int, *, short: float, long: float) -> float:
    """Seconds to wait before the next poll after `idle_polls` empty polls in a row.

    Right after work, poll again soon (more is likely on the way); each empty poll doubles the
    wait up to `long`.
    """
    if idle_polls <= 0:
        return short
    return min(long, short * 2.0 ** min(idle_polls, 62))
