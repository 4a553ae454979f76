"""The `outbox` command: the installed one run as a process (as users and the Procfile run it), or
invoked in-process on a store of the test's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.stream.memory.stream import MemoryStream
from outbox_cli.app import App
from outbox_cli.main import cli
from tests.support.servers import NxServer, RedisServer

OUTBOX = str(Path(sys.executable).with_name("outbox"))
ROOT = Path(__file__).resolve().parents[2]


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any OUTBOX_* variable of the developer's, plus `values`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTBOX_")}
    return {**env, **values}


def run_outbox(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OUTBOX, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def outbox_process(args: Sequence[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`outbox ARGS` as a process with its output piped, run in `cwd` (where no .env lies)."""
    return subprocess.Popen(
        [OUTBOX, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def nx_daemon_env(nx: NxServer, database: str, redis_url: str, **settings: str) -> dict[str, str]:
    """A daemon's environment on nx-27017 and this Redis: one worker (nx-27017 takes one
    transactional client at a time), no metrics port, unbuffered logs; `settings` add to it or
    override it."""
    return {
        **clean_env(
            OUTBOX_MONGODB_URI=nx.uri,
            OUTBOX_DATABASE=database,
            OUTBOX_REDIS_URL=redis_url,
            OUTBOX_WORKERS="1",
            OUTBOX_METRICS_PORT="0",
            PYTHONUNBUFFERED="1",
        ),
        **settings,
    }


def relay_process(
    args: list[str],
    *,
    nx: NxServer,
    store: MongoStore,
    redis_server: RedisServer,
    tmp_path: Path,
    **env: str,
) -> subprocess.Popen[str]:
    environment = nx_daemon_env(
        nx,
        store.database.name,
        redis_server.url,
        **{
            "OUTBOX_BATCH_SIZE": "50",
            "OUTBOX_LEASE_SECONDS": "2",
            "PYTHONPATH": str(ROOT),
            **env,
        },
    )
    return outbox_process(["relay", "run", *args], env=environment, cwd=tmp_path)


def invoke_outbox(store: MemoryStore, *args: str, stream: MemoryStream | None = None) -> Result:
    """The command in this process, on `store` (and `stream`, when given), reading no `.env`."""
    app = App(env_file=None)
    app._store = store
    app._stream = stream
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent", *args], obj=app)


def empty_env_file(directory: Path) -> str:
    """An existing, empty `--env-file`: the command reads no `.env` of the developer's."""
    path = directory / "empty.env"
    path.touch()
    return str(path)
