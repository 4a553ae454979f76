"""How long the relay waits between polls when idle (outages back off with `backoff`)."""

from __future__ import annotations


def poll_wait(idle_polls: int, *, short: float, long: float) -> float:
    """Seconds to wait before the next poll after `idle_polls` empty polls in a row.

    Right after work, poll again soon (more is likely on the way); each empty poll doubles the
    wait up to `long`.
    """
    if idle_polls <= 0:
        return short
    return min(long, short * 2.0 ** min(idle_polls, 62))
