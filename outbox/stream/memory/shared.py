"""What the views of one in-memory stream share: the logs, the fences, the high-water marks,
one lock (a condition, for blocking reads) and the simulated outage."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from outbox.stream.errors import Fenced, MarksUnseeded, StreamUnavailable
from outbox.stream.memory.log import Log
from outbox.stream.publish_script import fenced, unseeded


class Shared:
    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float]) -> None:
        # A Condition's lock is reentrant: a call may hold it while it calls another.
        self.changed = threading.Condition()
        self.logs: dict[str, Log] = {}
        self.fences: dict[str, int] = {}
        self.marks: dict[str, dict[str, int]] = {}  # by stream: gateway → highest version
        self.seeded: set[str] = set()  # streams whose marks hold everything published
        self.down = False
        self.monotonic = monotonic
        self.wall = wall

    @contextmanager
    def locked(self) -> Iterator[Shared]:
        """Hold the lock, refused (StreamUnavailable) while the stream is down."""
        with self.changed:
            self.check_up()
            yield self

    def check_up(self) -> None:
        if self.down:
            raise StreamUnavailable("the in-memory stream is down (a simulated outage)")

    def log(self, name: str) -> Log:
        return self.logs.setdefault(name, Log())

    def now_ms(self) -> int:
        return int(self.wall() * 1000)

    def fence(self, stream: str, token: int) -> None:
        fence = self.fences.get(stream, 0)
        if token < fence:
            raise Fenced(f"the stream refused the relay: {fenced(token, fence)}")
        self.fences[stream] = token

    def check_seeded(self, stream: str) -> None:
        """As the script: a stream with entries but without seeded marks is refused."""
        if stream in self.seeded:
            return
        if (stream in self.logs and self.logs[stream].entries) or stream in self.marks:
            raise MarksUnseeded(unseeded(stream))
        self.seeded.add(stream)
