"""The root command group: global options, settings, and errors turned into exit codes.

Command groups are registered by module path and loaded on first use (`outbox_cli/main.py` holds
the table), so that `outbox --help` or `outbox gateway get` imports only what it runs.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from outbox.domain.errors import OutboxError
from outbox.runtime.logs import configure_logging
from outbox_cli.output import Output

if TYPE_CHECKING:
    from outbox.runtime.settings import CommonSettings
    from outbox.store.port import Store
    from outbox.stream import EventStream

log = logging.getLogger(__name__)
S = TypeVar("S", bound="CommonSettings")

USAGE_EXIT = 2
INTERRUPTED_EXIT = 130
DEFAULT_ENV_FILE = ".env"


@dataclass
class App:
    """What every command gets: settings from the environment and options, and lazy backends."""

    overrides: dict[str, Any] = field(default_factory=dict)
    env_file: str | None = None
    output: Output = field(default_factory=Output)
    _store: Store | None = None
    _stream: EventStream | None = None

    def settings(self, settings_class: type[S] | None = None) -> S:
        # Imported here: `outbox --help` need not load pydantic-settings.
        from outbox.runtime.settings import CommonSettings, load

        chosen: type[Any] = settings_class or CommonSettings
        settings: S = load(chosen, env_file=self.env_file, **self.overrides)
        return settings

    def store(self) -> Store:
        if self._store is None:
            from outbox_cli.common import open_store

            self._store = open_store(self.settings())
        return self._store

    def stream(self, settings: CommonSettings) -> EventStream:
        """The stream at OUTBOX_REDIS_URL (tests inject one), seen with the default names."""
        if self._stream is None:
            from outbox_cli.common import open_stream

            self._stream = open_stream(settings)
        return self._stream

    def close(self) -> None:
        """Close the clients now: their monitor threads would otherwise hold up the exit."""
        store, stream = self._store, self._stream
        self._store = self._stream = None
        if store is not None:
            store.close()
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class LazyCommand:
    """A command group named by `module:attribute`, imported when it is run (or completed)."""

    target: str
    short_help: str


def fail(app: App | None, message: str, code: int) -> None:
    """One line on stderr (a JSON object under `-o json`) and the exit code."""
    if app is not None and app.output.format == "json":
        click.echo(json.dumps({"error": message, "code": code}), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


class OutboxGroup(click.Group):
    """Loads its groups lazily and turns every error into one line and the documented code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = {}

    def add_lazy(self, name: str, target: str, short_help: str) -> None:
        self.lazy[name] = LazyCommand(target, short_help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, attribute = self.lazy[cmd_name].target.split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The table's own short help: listing the groups must not import them.
        rows = [(name, self.lazy[name].short_help) for name in sorted(self.lazy)]
        rows += [
            (name, command.get_short_help_str())
            for name, command in sorted(self.commands.items())
            if name not in self.lazy
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    # One signature for click's two overloads (standalone or not): we always run it our way.
    def main(self, args: Sequence[str] | None = None, **extra: Any) -> Any:  # type: ignore[override]
        """Click's main without its standalone handling: usage errors become one line."""
        extra["standalone_mode"] = False
        given = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(given, **extra)
        except click.ClickException as error:
            app = _app() or App(output=Output("json" if _asks_for_json(given) else "table"))
            fail(app, error.format_message(), error.exit_code or USAGE_EXIT)
        except click.exceptions.Abort:  # Ctrl-C while click was parsing or prompting
            sys.exit(INTERRUPTED_EXIT)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutboxError as error:
            from outbox_cli.exit_codes import exit_code  # the error classes load only on failure

            fail(_app(ctx), str(error), exit_code(error))
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # The reader left (`| head`); what was asked is done (a write committed before its
            # output), so end quietly, as Unix tools do.
            _discard_stdout()
            sys.exit(0)
        except KeyboardInterrupt:
            sys.exit(INTERRUPTED_EXIT)  # Ctrl-C: the user knows; no traceback, no message
        except Exception as error:  # the last line of defence: never a traceback
            log.debug("unexpected error", exc_info=True)
            fail(_app(ctx), f"unexpected {type(error).__name__}: {error}", 1)


def _asks_for_json(args: Sequence[str]) -> bool:
    """Whether the command line asked for JSON: a usage error is found before it is parsed."""
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--json" in args or any(
        (a in ("-o", "--output") and b.lower() == "json")
        or a.lower() in ("-ojson", "--output=json")
        for a, b in pairs
    )


def _app(ctx: click.Context | None = None) -> App | None:
    ctx = ctx or click.get_current_context(silent=True)
    obj = None if ctx is None else ctx.find_root().obj
    return obj if isinstance(obj, App) else None


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (click's test runner)
        pass


pass_app = click.make_pass_decorator(App)


def _env_file(given: str | None) -> str | None:
    """`.env` when it is there; a file named on the command line must be there."""
    if given is None:
        return DEFAULT_ENV_FILE if Path(DEFAULT_ENV_FILE).is_file() else None
    if not Path(given).is_file():
        raise click.BadParameter(f"{given}: no such file", param_hint="--env-file")
    return given


@click.group(cls=OutboxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--mongodb-uri", help="MongoDB URI (default: $OUTBOX_MONGODB_URI).")
@click.option("--database", help="MongoDB database (default: $OUTBOX_DATABASE or outbox).")
@click.option("--redis-url", help="Redis URL (default: $OUTBOX_REDIS_URL).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    help="Log format (default: $OUTBOX_LOG_FORMAT or text).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--env-file",
    help="Read OUTBOX_* variables from this file, which must exist (default: .env when it "
    "exists). The environment wins.",
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
    env_file: str | None,
) -> None:
    """Provision API gateways on Kubernetes through a transactional outbox."""
    overrides = {
        key: value
        for key, value in {
            "mongodb_uri": mongodb_uri,
            "database": database,
            "redis_url": redis_url,
            "log_format": log_format and log_format.lower(),
        }.items()
        if value is not None
    }
    if isinstance(ctx.obj, App):  # given by the caller (tests inject a store this way)
        app = ctx.obj
        app.overrides.update(overrides)
    else:
        app = App(overrides=overrides, env_file=_env_file(env_file))
        ctx.obj = app
    ctx.call_on_close(app.close)
    configure_logging(verbose=verbose, json_format=app.settings().log_format == "json")
    _configure_tracing(ctx.invoked_subcommand)


# The commands that start spans: writes, the daemons, the demo and the API. The others skip the
# OpenTelemetry SDK's import (about 0.1 s), which `outbox status` or `completion` never need.
TRACED_COMMANDS = frozenset({"gateway", "relay", "provisioner", "demo", "api"})


def _configure_tracing(command: str | None) -> None:
    """Propagation always; export only with OTEL_EXPORTER_OTLP_ENDPOINT."""
    if command in TRACED_COMMANDS:
        from outbox.runtime.tracer_provider import configure_tracing

        configure_tracing(f"outbox-{command}")
