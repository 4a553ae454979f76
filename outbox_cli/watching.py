"""`--watch`: show something now, then again each time it changes, until Ctrl-C (exit 130)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from outbox.store.port import Store
from outbox.views.waiting import RECHECK, Changes

T = TypeVar("T")


class Wakeups(Protocol):
    def wait(self, seconds: float) -> None: ...

    def close(self) -> None: ...


def watch(
    store: Store,
    fetch: Callable[[], T],
    show: Callable[[T, T | None], None],
    *,
    wakeups: Wakeups | None = None,
) -> None:
    """Call `show(current, previous)` first, then whenever `fetch()` returns something new.

    Compares data, not text: an age ticking in a table is no change.
    """
    wakeups = wakeups or Changes(store)
    try:
        previous: T | None = None
        shown = False
        while True:
            current = fetch()
            if not shown or current != previous:
                show(current, previous if shown else None)
                previous, shown = current, True
            wakeups.wait(RECHECK)
    finally:
        wakeups.close()
