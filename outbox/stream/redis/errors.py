"""Redis exceptions in, the stream port's typed errors out, by the policy of `replies`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from outbox.stream.errors import Fenced, MarksUnseeded, StreamUnavailable
from outbox.stream.replies import Reply, classify, first_line


def reply_of(error: ResponseError) -> Reply:
    return classify(reply_text(error))


def reply_text(error: ResponseError) -> str:
    """redis-py strips the error code of the replies it knows; put it back for `classify`."""
    code = getattr(error, "status_code", None)
    return f"{code} {error}" if code else str(error)


@contextmanager
def redis_errors(refused: str = "Redis refused a command") -> Iterator[None]:
    """Every Redis failure leaves as `Fenced` or `StreamUnavailable` (exit code 6): a reply
    that reaches here was not repaired by a retry, and no single event is to blame for it."""
    try:
        yield
    except ResponseError as error:
        if reply_of(error) is Reply.FENCED:
            raise Fenced(f"Redis refused the relay: {error}") from error
        if reply_of(error) is Reply.UNSEEDED:
            raise MarksUnseeded(str(error)) from error
        raise StreamUnavailable(f"{refused}: {first_line(str(error))}") from error
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise StreamUnavailable(f"Redis is unreachable: {first_line(str(error))}") from error
    except RedisError as error:
        raise StreamUnavailable(f"Redis failed: {first_line(str(error))}") from error
    except RedisClusterException as error:
        # Not a RedisError: the cluster client's own failures (no node answers, a slot with no
        # master while the cluster reshapes itself).
        raise StreamUnavailable(f"Redis Cluster failed: {first_line(str(error))}") from error
