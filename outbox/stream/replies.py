"""The one policy for Redis error replies, decided from their text (no Redis import).

Every Redis call of both daemons and the command line goes through it: the Redis adapter asks
`classify` what an error reply means and acts on the answer.
"""

from __future__ import annotations

from enum import StrEnum


class Reply(StrEnum):
    FENCED = "fenced"  # a newer lease holder published: this relay must stop
    UNSEEDED = "unseeded"  # the high-water marks must be seeded before anything is published
    RELOAD_SCRIPT = "reload-script"  # the script cache was flushed (restart): load it, resend
    RECREATE_GROUP = "recreate-group"  # the group vanished (FLUSHALL, stream deleted): recreate
    GROUP_EXISTS = "group-exists"  # creating a group that is there already: nothing to do
    UNAVAILABLE = "unavailable"  # Redis as a whole cannot serve now: retry later
    REJECTED = "rejected"  # this command (this event) cannot be carried out as it is

    @property
    def retried(self) -> bool:
        """Whether the adapter repairs the cause and sends the same command again."""
        return self in (Reply.RELOAD_SCRIPT, Reply.RECREATE_GROUP)


# Error codes Redis uses for states of the server rather than faults of the command.
TEMPORARY = (
    "LOADING",
    "BUSY",
    "OOM",
    "MASTERDOWN",
    "READONLY",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MISCONF",
    "NOREPLICAS",
)

_BY_CODE = {
    "FENCED": Reply.FENCED,
    "UNSEEDED": Reply.UNSEEDED,
    "NOSCRIPT": Reply.RELOAD_SCRIPT,
    "NOGROUP": Reply.RECREATE_GROUP,
    "BUSYGROUP": Reply.GROUP_EXISTS,
    **dict.fromkeys(TEMPORARY, Reply.UNAVAILABLE),
}


def classify(message: str) -> Reply:
    """What an error reply ("CODE text…") means; an unknown code is the command's own fault."""
    code = message.strip().split(" ", 1)[0].upper()
    return _BY_CODE.get(code, Reply.REJECTED)


def first_line(message: str) -> str:
    return message.split("\n", 1)[0][:200]
