"""The shutdown rule both daemons follow: stop at once, leave the process after the grace period."""

from __future__ import annotations

import threading

from outbox_cli.signals import GOODBYE_SECONDS, stop_within_grace


def test_stopping_within_the_grace_period_stops_the_daemon_and_arms_the_way_out() -> None:
    stopped = threading.Event()

    timer = stop_within_grace("relay", stopped.set, 30)
    try:
        assert stopped.is_set()
        assert timer.is_alive() and timer.daemon
        # The daemon itself stops waiting for work in flight at the end of the grace period;
        # the process is left only after its goodbye had time too.
        assert timer.interval == 30 + GOODBYE_SECONDS
    finally:
        timer.cancel()
