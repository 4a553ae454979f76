"""`/wait`: read the gateway until the wait rule (`outbox.domain.settling.judge`) settles it or the
timeout passes, without holding a thread while it sleeps.

Reads run in the thread pool (the store is synchronous); the waits between them are the event
loop's. Concurrent waits are capped per replica: beyond the cap a request gets 429 at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from outbox.domain.errors import NotFound
from outbox.domain.model import Gateway
from outbox.domain.settling import Target, Verdict, judge
from outbox_api.problems import ApiProblem

Read = Callable[[], Gateway]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Settled:
    verdict: Verdict
    gateway: Gateway | None


class Waits:
    def __init__(
        self, *, cap: int, interval: float, monotonic: Callable[[], float], sleep: Sleep
    ) -> None:
        self._cap = cap
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self.active = 0  # only touched on the event loop: no lock needed

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self.active >= self._cap:
            detail = f"{self._cap} waits are in progress on this replica; retry later"
            raise ApiProblem(429, "too-many-waits", "Too many waits", detail, {"Retry-After": "1"})
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    async def wait(self, read: Read, target: Target, timeout: float) -> Settled:
        """Until settled or `timeout` seconds; a gateway gone after the first read is None."""
        async with self._slot():
            deadline = self._monotonic() + timeout
            gateway: Gateway | None = await run_in_threadpool(read)  # NotFound: 404
            while True:
                verdict = judge(gateway, target)
                left = deadline - self._monotonic()
                if verdict is not Verdict.PENDING or left <= 0:
                    return Settled(verdict, gateway)
                await self._sleep(min(self._interval, left))
                gateway = await run_in_threadpool(_or_none, read)


def _or_none(read: Read) -> Gateway | None:
    try:
        return read()
    except NotFound:
        return None
