"""What a Redis error reply means for the event that got it."""

from __future__ import annotations

import pytest

from relay.classify import Disposition, classify


@pytest.mark.parametrize(
    ("reply", "disposition"),
    [
        ("FENCED lease token 3 is older than 4", Disposition.FENCED),
        ("NOSCRIPT No matching script. Please use EVAL.", Disposition.NO_SCRIPT),
        ("LOADING Redis is loading the dataset in memory", Disposition.UNAVAILABLE),
        ("OOM command not allowed when used memory > 'maxmemory'.", Disposition.UNAVAILABLE),
        ("READONLY You can't write against a read only replica.", Disposition.UNAVAILABLE),
        ("BUSY Redis is busy running a script.", Disposition.UNAVAILABLE),
        ("MISCONF Redis is configured to save RDB snapshots", Disposition.UNAVAILABLE),
        ("ERR string exceeds maximum allowed size", Disposition.REJECTED),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", Disposition.REJECTED),
        ("", Disposition.REJECTED),
    ],
)
def test_only_faults_of_the_event_itself_count_towards_parking(
    reply: str, disposition: Disposition
) -> None:
    assert classify(reply) is disposition
