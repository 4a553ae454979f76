"""Faults injected at the relay's own ports: a reader and publishers that fail on cue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from outbox.domain.events import OutboxEvent
from outbox.stream import EventStream, Publication
from relay.outbox_reader import OutboxReader


class Crash(BaseException):
    """The process dies here (BaseException: nothing in the relay may swallow it)."""


class CrashBeforeMark(OutboxReader):
    """Dies after the batch reached Redis, before MongoDB records it: on the Nth marking."""

    def __init__(self, *args: object, on_mark: int = 1) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self._countdown = on_mark

    def mark_published(self, events: Sequence[OutboxEvent], *, at: datetime) -> int:
        self._countdown -= 1
        if self._countdown == 0:
            raise Crash("killed between publish and mark")
        return super().mark_published(events, at=at)


class CrashMidBatch:
    """Publishes the first `after` events of the Nth batch, then dies."""

    def __init__(self, inner: EventStream, *, batch: int, after: int) -> None:
        self._inner = inner
        self._countdown = batch
        self._after = after

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        self._countdown -= 1
        if self._countdown == 0:
            self._inner.publish(events[: self._after], token=token)
            raise Crash("killed in the middle of a batch")
        return self._inner.publish(events, token=token)

    def ping(self) -> None:
        self._inner.ping()


class Rejecting:
    """Redis rejects these event ids every time (too large, say); the rest go through."""

    def __init__(self, inner: EventStream, rejected: set[str]) -> None:
        self._inner = inner
        self.rejected = rejected
        self.attempts = 0

    def publish(self, events: Sequence[OutboxEvent], *, token: int) -> list[Publication]:
        # As Redis would: events before the rejected one go, the rejected one fails, and its
        # gateway's later events in the batch are held back by the script.
        outcomes = []
        failed: set[str] = set()
        for event in events:
            if event.id in self.rejected:
                self.attempts += 1
                failed.add(event.aggregate_id)
                outcomes.append(
                    Publication(event.id, error="ERR string exceeds maximum allowed size")
                )
            elif event.aggregate_id in failed:
                outcomes.append(Publication(event.id, held=True))
            else:
                outcomes += self._inner.publish([event], token=token)
        return outcomes

    def ping(self) -> None:
        self._inner.ping()
