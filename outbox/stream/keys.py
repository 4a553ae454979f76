"""The Redis keys of one stream, all in one cluster hash slot. Pure: no Redis import.

Redis Cluster hashes only the part of a key between the first `{` and the next `}` (the hash
tag), or the whole key when it has none. The stream key stays exactly what OUTBOX_STREAM says;
its companions carry the stream's name as their tag (`{events:gateway}:hwm`), so they hash to
the stream's slot and one script or MULTI may touch them all. A name that has a tag of its own
(`{tenant}:events`) keeps it, and its companions share it.
"""

from __future__ import annotations


def hash_tag(key: str) -> str | None:
    """The part of `key` Redis Cluster hashes, when it has a tag (Redis's own rule)."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:  # no closing brace, or `{}`: the whole key is hashed
        return None
    return key[start + 1 : end]


def companion(stream: str, suffix: str) -> str:
    """A key beside `stream` that hashes to the stream's slot."""
    if hash_tag(stream) is not None:
        return f"{stream}:{suffix}"
    return f"{{{stream}}}:{suffix}"


def marks_key(stream: str) -> str:
    """The hash gateway id → highest version published."""
    return companion(stream, "hwm")


def seeded_key(stream: str) -> str:
    """Set once the marks hold everything already published (see `relay.seeding`)."""
    return companion(stream, "hwm-seeded")


def fence_key(stream: str) -> str:
    """The newest lease token that has published."""
    return companion(stream, "fence")


def dead_letters_key(stream: str) -> str:
    """The dead-letter stream: in the stream's slot, so dead-lettering and replaying are one
    script over both streams on a cluster too."""
    return companion(stream, "dlq")


def legacy_dead_letters_key(stream: str) -> str:
    """Where releases before the cluster support kept the dead letters (no tag)."""
    return f"{stream}:dlq"


def legacy_fence_key(stream: str) -> str:
    """Where releases before the high-water marks kept the fence (no tag)."""
    return f"{stream}:fence"


def legacy_dedupe_prefix(stream: str) -> str:
    """Releases before the high-water marks kept one key per event id under this prefix."""
    return f"{stream}:dedupe:"


def partition_stream(stream: str, partition: int) -> str:
    """The stream of one partition: `{events:gateway:3}`. The whole name is its own hash tag,
    so its companions (`{events:gateway:3}:hwm`, `:fence`, `:dlq`) share its slot, and the
    partitions spread over a cluster's slots. A stream name with a tag of its own
    (`{tenant}:events`) keeps it: all its partitions then share one slot."""
    if hash_tag(stream) is not None:
        return f"{stream}:{partition}"
    return f"{{{stream}:{partition}}}"


def partition_streams(stream: str, partitions: int) -> list[str]:
    """The streams of partitions 0 .. P-1, in order."""
    return [partition_stream(stream, partition) for partition in range(partitions)]
