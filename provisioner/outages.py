"""Which backends are down, as the provisioner sees them: logged and counted once per outage."""

from __future__ import annotations

import logging
from collections.abc import Callable

from outbox.errors import BackendUnavailable
from provisioner.metrics import ProvisionerMetrics

log = logging.getLogger(__name__)


class Outages:
    """Which backends are down: each outage is logged once when it starts and once when it
    ends (not once per retry), and counted per backend."""

    def __init__(self, metrics: ProvisionerMetrics, monotonic: Callable[[], float]) -> None:
        self._metrics = metrics
        self._monotonic = monotonic
        self._since: dict[str, float] = {}

    def down(self, backend: str) -> bool:
        return backend in self._since

    @property
    def any(self) -> bool:
        return bool(self._since)

    def failed(self, backend: str, error: BackendUnavailable) -> None:
        if backend in self._since:
            return
        self._since[backend] = self._monotonic()
        self._metrics.backend_outages.labels(backend).inc()
        log.warning("%s unavailable, retrying until it is back: %s", backend, error)

    def answered(self, backend: str) -> None:
        since = self._since.pop(backend, None)
        if since is not None:
            log.info("%s reachable again after %.1fs", backend, self._monotonic() - since)
