"""`outbox completion bash|zsh|fish`, and gateway names completed from the store: within a
second, or silently not at all. The completions run as the shell runs them, as processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.writer import Writer
from tests.support.cli import clean_env, invoke_outbox, run_outbox
from tests.support.servers import NxServer, free_port


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef outbox"),
        ("fish", "complete --no-files"),
    ],
)
def test_completion_prints_the_script_of_each_shell(shell: str, marker: str) -> None:
    result = invoke_outbox(MemoryStore(), "completion", shell)

    assert result.exit_code == 0, result.output
    assert "_OUTBOX_COMPLETE" in result.stdout and marker in result.stdout


def complete(words: str, *, env: dict[str, str], cwd: Path) -> list[str]:
    """What bash is offered for the last word of `words`."""
    completed = run_outbox(
        env={
            **env,
            "_OUTBOX_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        },
        cwd=cwd,
    )
    assert completed.returncode == 0, completed.stderr
    return [line.split(",", 1)[1] for line in completed.stdout.splitlines() if line]


def test_gateway_names_complete_from_the_store(
    nx_store: MongoStore, nx_server: NxServer, tmp_path: Path
) -> None:
    writer = Writer(nx_store)
    for name in ("edge", "eu-api", "internal"):
        writer.create(name, {"image": "nginx"})
    env = clean_env(OUTBOX_MONGODB_URI=nx_server.uri, OUTBOX_DATABASE=nx_store.database.name)

    def offered(words: str) -> list[str]:
        # The store has one second per Tab; on this shared machine a loaded nx-27017 may miss
        # it once (and then offers nothing, as it should), so a Tab is pressed up to 3 times.
        for _ in range(3):
            if names := complete(words, env=env, cwd=tmp_path):
                return names
        return []

    assert offered("outbox gateway get e") == ["edge", "eu-api"]
    assert offered("outbox gateway stop ") == ["edge", "eu-api", "internal"]
    assert "timeline" in complete("outbox gateway t", env=env, cwd=tmp_path)


def test_an_unreachable_store_completes_nothing_within_a_second(tmp_path: Path) -> None:
    env = clean_env(OUTBOX_MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true")
    began = time.monotonic()
    commands = complete("outbox gateway t", env=env, cwd=tmp_path)  # the same start-up, no store
    start_up_seconds = time.monotonic() - began

    began = time.monotonic()
    names = complete("outbox gateway get e", env=env, cwd=tmp_path)

    assert "timeline" in commands
    assert names == []
    # One second for the store, beyond the same completion without it; generous under load.
    assert time.monotonic() - began - start_up_seconds < 1 + 1.5
