"""Who made a change: the `actor` every outbox event carries, as `KIND:NAME`.

`token:NAME` for the HTTP API (the one verified identity), `cli:USER@HOST` for the command line
(self-declared, overridable with `--actor`), `python:USER@HOST` for direct library use (settable
on `Writer`), `provisioner:CONSUMER` for phase changes.
"""

from __future__ import annotations

import getpass
import re
import socket

TOKEN = "token"
CLI = "cli"
PYTHON = "python"
PROVISIONER = "provisioner"

MAX_ACTOR_LENGTH = 200
# A kind, a colon, then any printable text without whitespace: readable in one table column.
_ACTOR = re.compile(r"^[a-z][a-z0-9-]*:\S+$")


def check_actor(value: str) -> str:
    """`value` if it is an actor (`KIND:NAME`), else ValueError naming the rule."""
    if not isinstance(value, str) or len(value) > MAX_ACTOR_LENGTH or not _ACTOR.match(value):
        raise ValueError(
            f"actor {value!r} is not KIND:NAME (a lowercase kind like cli or token, a colon, "
            f"then a name without spaces; at most {MAX_ACTOR_LENGTH} characters)"
        )
    return value


def actor(kind: str, name: str) -> str:
    return check_actor(f"{kind}:{name}")


def local_user() -> str:
    """USER@HOST of this process, for the self-declared actors of the command line and library."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container running as a bare uid)
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'localhost'}"


def cli_actor() -> str:
    return actor(CLI, local_user())


def python_actor() -> str:
    return actor(PYTHON, local_user())


def provisioner_actor(consumer: str) -> str:
    # OUTBOX_CONSUMER is free text: keep the actor one word.
    return actor(PROVISIONER, re.sub(r"\s+", "-", consumer.strip()) or "unnamed")


def token_actor(token_name: str) -> str:
    """The actor of an HTTP API call authenticated by the token named `token_name`."""
    return actor(TOKEN, token_name)
