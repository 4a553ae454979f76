"""What the provisioner did until now: logged at shutdown, returned by `drain()` (`--once`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Totals:
    """Counted by the workers as they finish, hence the lock."""

    acked: int = 0
    failed: int = 0
    dead_lettered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def handled(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.acked += 1
            else:
                self.failed += 1

    def add_dead_lettered(self) -> None:
        with self._lock:
            self.dead_lettered += 1
