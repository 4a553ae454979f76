"""`outbox relay unpark`: a parked event, once its cause is fixed, is published again, in order
with the events it held up."""

from __future__ import annotations

from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from relay.factory import build_relay
from relay.settings import RelaySettings
from tests.support.cli import invoke_outbox

STREAM = "events:gateway"


def relay_stream(stream: MemoryStream) -> list[tuple[str, dict[str, str]]]:
    return stream.with_config(StreamConfig(stream=STREAM)).entries()


def test_an_unparked_event_is_published_before_the_events_it_held_up() -> None:
    store, stream = MemoryStore(), MemoryStream()
    writer = Writer(store)
    gateway = writer.create("edge", {"image": "nginx:1.27"})
    writer.stop("edge")
    first = writer.events("edge")[0]
    store.collection(OUTBOX).update_one(
        {"_id": first.id}, {"$set": {"parked": True, "attempts": 5, "last_error": "stream is full"}}
    )
    relay = build_relay(
        RelaySettings(
            _env_file=None, stream=STREAM, metrics_port=0, relay_id="r", stats_interval=0.001
        ),  # type: ignore[call-arg]
        store=store,
        stream=stream,
    )
    relay.run_once()
    assert relay_stream(stream) == []  # the parked event holds up its gateway's later one

    assert invoke_outbox(store, "relay", "unpark", "ev_unknown").exit_code == 5
    assert invoke_outbox(store, "relay", "unpark").exit_code == 2
    released = invoke_outbox(store, "relay", "unpark", first.id, stream=stream)
    assert released.exit_code == 0, released.output
    assert "released 1 parked event" in released.output

    relay.run_once()
    relay.run_once()
    published = [(f["aggregate_id"], f["version"]) for _, f in relay_stream(stream)]
    assert published == [(gateway.id, "1"), (gateway.id, "2")]
