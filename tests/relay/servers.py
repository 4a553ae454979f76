"""nx-27017 with real database isolation, for the relay's tests and its benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import NxServer, _wait


class IsolatedNxServer(NxServer):
    """nx-27017 with one SQLite file per database.

    With the shared fixture's single `--db` file every database name maps to the same
    collections, so one test's outbox rows would be another's backlog.
    """

    def start(self) -> IsolatedNxServer:
        executable = Path(sys.executable).with_name("nx-27017")
        command = (
            [str(executable)]
            if executable.exists()
            else [sys.executable, "-m", "nx_27017.nx_27017"]
        )
        self.process = subprocess.Popen(
            [
                *command,
                "--data-dir",
                str(self.dir / "data"),
                "--port",
                str(self.port),
                "--log-file",
                str(self.dir / "nx.log"),
                "--pid-file",
                str(self.dir / "nx.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        _wait(self._answers, "nx-27017")
        return self
