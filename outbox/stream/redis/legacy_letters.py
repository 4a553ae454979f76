"""Moving the dead letters of an older release (`events:gateway:dlq`) to their tagged key.

Releases before the cluster support kept the dead-letter stream under `<stream>:dlq`, outside the
stream's hash slot. Moving them (rather than reading both) keeps one place that dead-lettering,
replay and `status` see, and loses nothing: on a single Redis one script moves every record
with its id at once; on a cluster, where the two keys may live on different masters, each
record is copied with its id and only then deleted, so a crash midway leaves it in one place or
the other and the next attempt finishes the move.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ResponseError

from outbox.stream import keys
from outbox.stream.port import StreamConfig
from outbox.stream.redis.connect import cluster_client
from outbox.stream.redis.letter_scripts import MOVE_ALL_SCRIPT
from outbox.stream.redis.scripts import Scripts

log = logging.getLogger(__name__)
PAGE = 500


def move_legacy_dead_letters(client: Any, scripts: Scripts, config: StreamConfig) -> int:
    """Move the old dead-letter stream's records to the current one; how many moved."""
    old, new = keys.legacy_dead_letters_key(config.stream), config.dead_letters
    if new != keys.dead_letters_key(config.stream) or old == new:
        return 0  # a name set by hand, or a stream name with its own tag: nothing ever moved
    if not client.exists(old):
        return 0
    if cluster_client(client) is None:
        moved = int(scripts.run(MOVE_ALL_SCRIPT, [old, new], []))
    else:
        moved = _move_by_record(client, old, new)
    log.warning("moved %d dead letter(s) from %s to %s", moved, old, new)
    return moved


def _move_by_record(client: Any, old: str, new: str) -> int:
    moved = 0
    while True:
        page = client.xrange(old, "-", "+", count=PAGE)
        for record_id, fields in page:
            _copy(client, new, record_id, fields)
            client.xdel(old, record_id)
            moved += 1
        if len(page) < PAGE:
            client.delete(old)
            return moved


def _copy(client: Any, new: str, record_id: str, fields: dict[str, str]) -> None:
    if [fields] == [found for _, found in client.xrange(new, record_id, record_id)]:
        return  # copied by an attempt that stopped before deleting the original
    try:
        client.xadd(new, fields, id=record_id)
    except ResponseError:
        # Newer records in the new stream already passed this id: the record keeps its place
        # in time order only approximately, but it is kept.
        client.xadd(new, fields)
