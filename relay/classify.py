"""What a Redis error reply means for one event, decided from its text (no Redis import)."""

from __future__ import annotations

from enum import StrEnum


class Disposition(StrEnum):
    FENCED = "fenced"  # a newer lease holder published: this relay must stop
    NO_SCRIPT = "no-script"  # the script cache was flushed (restart): load it and resend
    UNAVAILABLE = "unavailable"  # Redis as a whole cannot take writes now: retry the batch later
    REJECTED = "rejected"  # this event cannot be written: count it, park it after N attempts


# Error codes Redis uses for states of the server rather than faults of the command.
_TEMPORARY = (
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


def classify(message: str) -> Disposition:
    code = message.strip().split(" ", 1)[0].upper()
    if code == "FENCED":
        return Disposition.FENCED
    if code == "NOSCRIPT":
        return Disposition.NO_SCRIPT
    if code in _TEMPORARY:
        return Disposition.UNAVAILABLE
    return Disposition.REJECTED
