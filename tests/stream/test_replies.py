"""What a Redis error reply means, decided once for both daemons and the command line."""

from __future__ import annotations

import pytest

from outbox.stream.replies import Reply, classify


@pytest.mark.parametrize(
    ("reply", "meaning"),
    [
        ("FENCED lease token 3 is older than 4", Reply.FENCED),
        ("NOSCRIPT No matching script. Please use EVAL.", Reply.RELOAD_SCRIPT),
        ("NOGROUP No such key 'events' or consumer group 'p' in XREADGROUP", Reply.RECREATE_GROUP),
        ("BUSYGROUP Consumer Group name already exists", Reply.GROUP_EXISTS),
        ("LOADING Redis is loading the dataset in memory", Reply.UNAVAILABLE),
        ("OOM command not allowed when used memory > 'maxmemory'.", Reply.UNAVAILABLE),
        ("READONLY You can't write against a read only replica.", Reply.UNAVAILABLE),
        ("BUSY Redis is busy running a script.", Reply.UNAVAILABLE),
        ("MISCONF Redis is configured to save RDB snapshots", Reply.UNAVAILABLE),
        ("TRYAGAIN Multiple keys request during rehashing of slot", Reply.UNAVAILABLE),
        ("CLUSTERDOWN The cluster is down", Reply.UNAVAILABLE),
        ("MASTERDOWN Link with MASTER is down", Reply.UNAVAILABLE),
        ("NOREPLICAS Not enough good replicas to write.", Reply.UNAVAILABLE),
        ("ERR string exceeds maximum allowed size", Reply.REJECTED),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", Reply.REJECTED),
        ("", Reply.REJECTED),
    ],
)
def test_only_faults_of_the_command_itself_are_rejections(reply: str, meaning: Reply) -> None:
    assert classify(reply) is meaning


def test_only_a_flushed_script_cache_and_a_vanished_group_are_repaired_and_retried() -> None:
    assert {reply for reply in Reply if reply.retried} == {
        Reply.RELOAD_SCRIPT,
        Reply.RECREATE_GROUP,
    }
