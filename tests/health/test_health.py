"""The metrics and health server, scraped over HTTP as Prometheus and Kubernetes would.

Readiness is wired to a private redis-server of this module's own, which the test stops and
starts: /readyz must follow it, /healthz must not (a Redis outage is no reason to restart us).
A daemon's server adds the process's own metrics and drops the `*_created` series; a port that
is taken is refused with a message that says how to choose another.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry, Counter

from outbox.domain.errors import InvalidInput
from outbox.runtime.health import HealthServer, serving
from outbox_cli.exit_codes import exit_code  # the command line's mapping of the error
from tests.support.servers import RedisServer, free_port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def redis_running(own_redis: RedisServer) -> None:
    if own_redis.process is None:
        own_redis.start()


@pytest.fixture(scope="module")
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("outbox_test_events_published", "Events published", registry=registry).inc(3)
    return registry


@pytest.fixture(scope="module")
def health(own_redis: RedisServer, registry: CollectorRegistry) -> Iterator[str]:
    client = redis.Redis.from_url(own_redis.url, socket_timeout=1, socket_connect_timeout=1)

    def redis_reachable() -> None:
        client.ping()

    server = HealthServer(
        port=0, host="127.0.0.1", registry=registry, checks={"redis": redis_reachable}
    ).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()
    client.close()


def test_metrics_are_served_in_the_prometheus_text_format(health: str) -> None:
    status, body = get(f"{health}/metrics")

    assert status == 200
    assert "# TYPE outbox_test_events_published_total counter" in body
    assert "outbox_test_events_published_total 3.0" in body


def test_ready_while_redis_answers_and_not_ready_while_it_is_stopped(
    health: str, own_redis: RedisServer
) -> None:
    assert get(f"{health}/readyz") == (200, "ready\n")

    own_redis.stop()
    status, body = get(f"{health}/readyz")
    assert status == 503
    assert body.startswith("redis: ")

    own_redis.start()
    assert get(f"{health}/readyz") == (200, "ready\n")


def test_liveness_ignores_a_redis_outage(health: str, own_redis: RedisServer) -> None:
    own_redis.stop()

    assert get(f"{health}/healthz") == (200, "ok\n")


def test_liveness_fails_when_the_loop_reports_it_stalled() -> None:
    server = HealthServer(
        port=0, host="127.0.0.1", registry=CollectorRegistry(), checks={}, alive=lambda: False
    ).start()
    try:
        assert get(f"http://127.0.0.1:{server.port}/healthz") == (503, "stalled\n")
    finally:
        server.stop()


def test_unknown_paths_are_404(health: str) -> None:
    assert get(f"{health}/") == (404, "not found\n")


def test_a_port_in_use_is_refused_naming_the_port_and_how_to_choose_another() -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]

        with pytest.raises(InvalidInput) as refused:
            HealthServer(port=port, registry=CollectorRegistry(), checks={})

    assert exit_code(refused.value) == 2
    assert str(refused.value) == (
        f"metrics port {port} is already in use (another daemon on this host?); "
        "choose another with OUTBOX_METRICS_PORT or --metrics-port (0: no metrics server)"
    )


def test_a_daemon_serves_its_process_metrics_and_no_created_series() -> None:
    registry = CollectorRegistry()
    Counter("outbox_test_steps", "Steps", ["phase"], registry=registry).labels("Started").inc()
    port = free_port()

    with serving(port=port, registry=registry, checks={}, alive=lambda: True):
        status, body = get(f"http://127.0.0.1:{port}/metrics")

    assert status == 200
    assert 'outbox_test_steps_total{phase="Started"} 1.0' in body
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert f"\n{name} " in body
    assert "_created" not in body
