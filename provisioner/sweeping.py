"""The sweep and the resync, each at its fixed rate (`provisioner.timers.next_due`).

The sweep hands every gateway that is not at rest (or whose retry is due) to the workers: it
recovers whatever an event failed to bring. The resync hands over the resting Started gateways
as well, at a slower pace, to catch drift a watch missed; before the cluster cache has synced it
waits, since it would GET every object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from outbox.domain.clock import Clock
from provisioner.metrics import RESYNC, SWEEP, ProvisionerMetrics
from provisioner.settings import ProvisionerSettings
from provisioner.sweeper import Sweeper
from provisioner.timers import Schedule, next_due

log = logging.getLogger(__name__)


class Sweeping:
    def __init__(
        self,
        sweeper: Sweeper,
        *,
        submit: Callable[[str, str], None],
        settings: ProvisionerSettings,
        metrics: ProvisionerMetrics,
        clock: Clock,
        monotonic: Callable[[], float],
        synced: Callable[[], bool],
    ) -> None:
        """`submit` queues a gateway with its trigger; `synced` says whether the cluster cache
        (if any) has listed every kind."""
        self._sweeper = sweeper
        self._submit = submit
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._monotonic = monotonic
        self._synced = synced
        self._due = Schedule()

    def until_due(self) -> float:
        """Seconds until the next sweep (0 or less: due now)."""
        return self._due.sweep - self._monotonic()

    def sweep(self, *, resync: bool | None = None) -> int:
        """Hand every gateway that needs a look to the workers; `resync` forces (or skips) the
        resync of resting Started gateways, which otherwise runs when due."""
        now = self._clock()
        ids = self._sweeper.due(now)
        for gateway_id in ids:
            self._submit(gateway_id, SWEEP)
        if resync or (resync is None and self._resync_due()):
            ids += self._resync(leaving_out=set(ids))
        census = self._sweeper.census(now)
        for phase, count in census.per_phase.items():
            self._metrics.gateways.labels(phase).set(count)
        self._metrics.retries_pending.set(census.retries_pending)
        interval = self._settings.sweep_interval
        self._due.sweep = next_due(self._due.sweep, interval, self._monotonic())
        if ids:
            log.debug("sweep: %d gateways to look at", len(ids))
        return len(ids)

    def _resync(self, *, leaving_out: set[str]) -> list[str]:
        """Every resting Started gateway (but those the sweep has just handed over): from the
        cache this costs no API request, and it catches whatever a watch missed."""
        resting = [i for i in self._sweeper.resting_started() if i not in leaving_out]
        for gateway_id in resting:
            self._submit(gateway_id, RESYNC)
        self._metrics.resyncs.inc()
        interval = self._settings.resync_interval
        self._due.resync = next_due(self._due.resync, interval, self._monotonic())
        return resting

    def _resync_due(self) -> bool:
        return self._synced() and self._monotonic() >= self._due.resync
