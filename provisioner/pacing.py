"""How the provisioner's loop keeps time: how long a read may wait for new entries, and how long
the loop waits after a turn.

A read waits no longer than the next sweep or timer, so that they run on time. After a turn the
loop waits only where the read did not (a full pool, a server that ignores BLOCK) or where the
readers have threads of their own; while a backend is down it backs off (at most the probe
interval), but never past the next sweep or heartbeat while MongoDB answers.
"""

from __future__ import annotations

from collections.abc import Callable

from outbox.domain.clock import Clock
from outbox.runtime.outages import MONGODB, Outages
from provisioner.heartbeat import Heartbeat
from provisioner.partition_reader import READ_BLOCK_MS, SHORT_WAIT
from provisioner.sweeping import Sweeping
from provisioner.timers import Timers


class Pacing:
    def __init__(
        self,
        *,
        outages: Outages,
        heartbeat: Heartbeat,
        sweeps: Sweeping,
        timers: Timers,
        clock: Clock,
        threaded: Callable[[], bool],
        pool_full: Callable[[], bool],
    ) -> None:
        """`threaded`: every owned partition has a reader thread; `pool_full`: the workers have
        enough queued."""
        self._outages = outages
        self._heartbeat = heartbeat
        self._sweeps = sweeps
        self._timers = timers
        self._clock = clock
        self._threaded = threaded
        self._pool_full = pool_full

    def read_block_ms(self) -> int:
        """How long the read may wait for new entries: until the next sweep or timer at most, so
        that they run on time rather than up to READ_BLOCK_MS late (never 0: that blocks
        forever)."""
        until = min(
            READ_BLOCK_MS / 1000,
            self._sweeps.until_due(),
            self._timers.seconds_until(self._clock()),
        )
        return max(1, int(until * 1000))

    def pause(self, read: int, took: float, block: float) -> float:
        """The wait after a turn: none when the read itself waited for entries (BLOCK)."""
        if self._outages.any:
            return self._outage_wait()
        if self._threaded():
            return block  # the readers wait on Redis; this loop only keeps time
        if self._pool_full() or (read == 0 and took < min(0.01, block / 2)):
            # A full pool needs a moment; a server that does not honour BLOCK (an embedded
            # fake) must not make us spin.
            return SHORT_WAIT
        return 0.0

    def _outage_wait(self) -> float:
        """While a backend is down: the back-off (at most the probe interval), and, while MongoDB
        answers, no longer than the next sweep or heartbeat either (they must not wait for
        Redis)."""
        wait = self._outages.wait()
        if not self._outages.down(MONGODB):
            wait = min(wait, self._sweeps.until_due(), self._heartbeat.until_beat())
        return max(wait, SHORT_WAIT)
