"""The root command group: global options, settings, and errors turned into exit codes."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from outbox.errors import OutboxError
from outbox.logs import configure_logging
from outbox.settings import CommonSettings, load
from outbox.store import Store
from outbox.stream import EventStream
from outbox.tracer_provider import configure_tracing
from outbox_cli.common import open_store, open_stream

log = logging.getLogger(__name__)
S = TypeVar("S", bound=CommonSettings)


@dataclass
class App:
    """What every command gets: settings from the environment and options, and lazy backends."""

    overrides: dict[str, Any] = field(default_factory=dict)
    env_file: str | None = None
    _store: Store | None = None
    _stream: EventStream | None = None

    def settings(self, settings_class: type[S] = CommonSettings) -> S:  # type: ignore[assignment]
        return load(settings_class, env_file=self.env_file, **self.overrides)

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings())
        return self._store

    def stream(self, settings: CommonSettings) -> EventStream:
        """The stream at OUTBOX_REDIS_URL (tests inject one), seen with the default names."""
        if self._stream is None:
            self._stream = open_stream(settings)
        return self._stream

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        if self._stream is not None:
            self._stream.close()


class OutboxGroup(click.Group):
    """Turns our typed errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutboxError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # The reader left (`| head`); what was asked is done (a write committed before its
            # output), so end quietly, as Unix tools do.
            _discard_stdout()
            sys.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as error:  # the last line of defence: never a traceback
            log.debug("unexpected error", exc_info=True)
            click.echo(f"error: unexpected {type(error).__name__}: {error}", err=True)
            sys.exit(1)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (click's test runner)
        pass


pass_app = click.make_pass_decorator(App)


@click.group(cls=OutboxGroup)
@click.option("--mongodb-uri", help="MongoDB URI (default: $OUTBOX_MONGODB_URI).")
@click.option("--database", help="MongoDB database (default: $OUTBOX_DATABASE or outbox).")
@click.option("--redis-url", help="Redis URL (default: $OUTBOX_REDIS_URL).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="Log format (default: $OUTBOX_LOG_FORMAT or text).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--env-file",
    default=".env",
    show_default=True,
    help="Read OUTBOX_* variables from this file when it exists (the environment wins).",
)
@click.version_option(package_name="gateway-outbox")
@click.pass_context
def cli(
    ctx: click.Context,
    mongodb_uri: str | None,
    database: str | None,
    redis_url: str | None,
    log_format: str | None,
    verbose: bool,
    env_file: str,
) -> None:
    """Provision API gateways on Kubernetes through a transactional outbox."""
    overrides = {
        key: value
        for key, value in {
            "mongodb_uri": mongodb_uri,
            "database": database,
            "redis_url": redis_url,
            "log_format": log_format,
        }.items()
        if value is not None
    }
    if isinstance(ctx.obj, App):  # given by the caller (tests inject a store this way)
        app = ctx.obj
        app.overrides.update(overrides)
    else:
        app = App(overrides=overrides, env_file=env_file if Path(env_file).is_file() else None)
        ctx.obj = app
    ctx.call_on_close(app.close)
    configure_logging(verbose=verbose, json_format=app.settings().log_format == "json")
    # Propagation always; export only with OTEL_EXPORTER_OTLP_ENDPOINT.
    configure_tracing(f"outbox-{ctx.invoked_subcommand or 'cli'}")
