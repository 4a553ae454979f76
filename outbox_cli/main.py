"""Entry point of the `outbox` console command: every command group, registered in one place.

Each group is named by its module and loaded when it is used: a command imports only what it
runs. Add a group with one line: its name, `module:attribute`, and its one-line help.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

from outbox_cli.app import cli

COMMANDS = (
    ("init", "outbox_cli.init_cmd:init", "Create the MongoDB indexes."),
    ("gateway", "outbox_cli.gateway_cmd:gateway", "Create, change and inspect gateways."),
    ("relay", "outbox_cli.relay_cmd:relay", "The relay daemon: outbox to Redis stream."),
    ("provisioner", "outbox_cli.provisioner_cmd:provisioner", "The provisioner daemon."),
    ("status", "outbox_cli.status_cmd:status", "The whole pipeline at a glance."),
    ("dlq", "outbox_cli.dlq_cmd:dlq", "The dead-letter stream."),
    ("demo", "outbox_cli.demo_cmd:demo", "Run the whole pipeline in one process."),
    ("completion", "outbox_cli.completion:completion", "Print a shell completion script."),
    ("api", "outbox_cli.api_cmd:api", "The HTTP API server."),
    ("token", "outbox_cli.token_cmd:token", "The HTTP API's bearer tokens."),
)

for name, target, short_help in COMMANDS:
    cli.add_lazy(name, target, short_help)


def main() -> None:
    try:
        cli(prog_name="outbox")
    except SystemExit as done:
        end(done.code)


def end(code: object) -> NoReturn:
    """Exit at once, the command's clients closed and its output flushed.

    The MongoDB driver keeps monitor threads that outlive `close()` by up to half a second,
    and the interpreter's exit waits for them: after a command that took 0.5 s, another 0.7 s.
    Nothing of ours is left to run at exit by then (the daemons stop and release in `finally`).
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A reader that left (`| head`), or a closed stream: nothing more to say to it.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
