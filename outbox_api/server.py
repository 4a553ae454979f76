"""Serve the app with uvicorn until SIGTERM or SIGINT, then shut down gracefully.

uvicorn handles both signals: it stops accepting connections, lets requests in flight finish
for up to `grace_seconds` (long polls included), then closes what is left.
"""

from __future__ import annotations

import logging

import uvicorn

from outbox.store import Store
from outbox_api.app import create_app
from outbox_api.settings import ApiSettings

log = logging.getLogger(__name__)


def serve(store: Store, settings: ApiSettings) -> None:
    app = create_app(store, settings=settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=int(settings.grace_seconds) or None,
        log_config=None,  # the command line configured logging
        access_log=False,  # /metrics counts requests; a line per request is too much
        server_header=False,
    )
    log.info(
        "HTTP API on http://%s:%d (%s)", settings.api_host, settings.api_port, store.description
    )
    uvicorn.Server(config).run()
    log.info("HTTP API stopped")
