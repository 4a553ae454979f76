"""`outbox api run`: the HTTP writer API, served until SIGTERM."""

from __future__ import annotations

import click

from outbox_api.settings import ApiSettings
from outbox_cli.app import App, pass_app
from outbox_cli.signals import stop_on_signals


@click.group()
def api() -> None:
    """The HTTP API: the writer behind bearer tokens (see `outbox token`)."""


@api.command()
@click.option("--host", help="Address to listen on (default: $OUTBOX_API_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: $OUTBOX_API_PORT or 8080).")
@pass_app
def run(app: App, host: str | None, port: int | None) -> None:
    """Serve /v1 (and /healthz, /readyz, /metrics); SIGTERM finishes requests in flight."""
    for key, value in (("api_host", host), ("api_port", port)):
        if value is not None:  # validated with the settings, as the variables are
            app.overrides[key] = value
    settings = app.settings(ApiSettings)
    # Imported here: FastAPI and uvicorn take seconds to import, which no other command needs.
    from outbox_api.server import ApiServer

    server = ApiServer(app.store(), settings)
    stop_on_signals(server.stop)
    server.run()
