"""`outbox relay unpark` and the high-water marks: an event at or below its gateway's mark is
refused (exit 3, nothing changed); `--out-of-order` adds it again as a redelivered entry."""

from __future__ import annotations

from click.testing import CliRunner, Result

from outbox.domain.events import OutboxEvent
from outbox.store.memory.store import MemoryStore
from outbox.store.port import OUTBOX
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from outbox_cli.app import App
from outbox_cli.main import cli
from relay.factory import build_relay
from relay.settings import RelaySettings

STREAM = "events:gateway"


def outbox(store: MemoryStore, stream: MemoryStream, *args: str) -> Result:
    app = App(env_file=None)
    app._store, app._stream = store, stream
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent", *args], obj=app)


def everything_published() -> tuple[MemoryStore, MemoryStream, list[OutboxEvent]]:
    store, stream = MemoryStore(), MemoryStream()
    writer = Writer(store)
    writer.create("edge", {"image": "nginx:1.27"})
    writer.stop("edge")
    settings = RelaySettings(_env_file=None, stream=STREAM, metrics_port=0, relay_id="r")  # type: ignore[call-arg]
    build_relay(settings, store=store, stream=stream).run_once()
    return store, stream, writer.events("edge")


def parked_again(store: MemoryStore, event: OutboxEvent) -> None:
    """An event set back to unpublished and parked (a repair, a restored backup)."""
    store.collection(OUTBOX).update_one(
        {"_id": event.id}, {"$set": {"published_at": None, "parked": True, "attempts": 5}}
    )


def entries(stream: MemoryStream) -> list[dict[str, str]]:
    return [fields for _, fields in stream.with_config(StreamConfig(stream=STREAM)).entries()]


def test_an_event_at_or_below_its_mark_is_refused_with_exit_3_and_nothing_changes() -> None:
    store, stream, (first, _) = everything_published()
    parked_again(store, first)

    result = outbox(store, stream, "relay", "unpark", first.id)

    assert result.exit_code == 3
    assert "at or below their gateway's high-water mark" in result.output
    assert "--out-of-order" in result.output
    assert len(entries(stream)) == 2
    assert store.collection(OUTBOX).find_one({"_id": first.id})["parked"] is True


def test_unpark_all_refuses_as_a_whole_when_one_event_is_behind_its_mark() -> None:
    store, stream, (first, _) = everything_published()
    parked_again(store, first)

    assert outbox(store, stream, "relay", "unpark", "--all").exit_code == 3
    assert store.collection(OUTBOX).count_documents({"parked": True}) == 1


def test_out_of_order_adds_it_again_as_a_redelivered_entry_and_records_it_published() -> None:
    store, stream, (first, second) = everything_published()
    parked_again(store, first)

    result = outbox(store, stream, "relay", "unpark", "--out-of-order", first.id)

    assert result.exit_code == 0, result.output
    assert f"redelivered {first.id} out of order" in result.output
    redelivered = entries(stream)[-1]
    assert redelivered == {**first.stream_fields(), "redelivered": "1"}
    assert [f["event_id"] for f in entries(stream)] == [first.id, second.id, first.id]
    document = store.collection(OUTBOX).find_one({"_id": first.id})
    assert document["published_at"] is not None
    assert store.collection(OUTBOX).count_documents({"parked": True, "published_at": None}) == 0
