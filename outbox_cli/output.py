"""How every command prints: `-o table|wide|json|yaml|name`, `--no-headers`, and `--json`.

Tables are for people (ages like `3m12s`, short errors); JSON and YAML are for scripts (every
time in one format, RFC 3339 UTC); `name` prints one name per line, for `xargs`. A command
gives its data once, as plain values, and a function that lays it out as a table.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import click

FORMATS = ("table", "wide", "json", "yaml", "name")
MACHINE = ("json", "yaml")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Output:
    """The format a command was asked for."""

    format: str = "table"
    headers: bool = True

    @property
    def machine(self) -> bool:
        return self.format in MACHINE

    @property
    def wide(self) -> bool:
        return self.format == "wide"

    def emit(
        self,
        data: Any,
        *,
        human: Callable[[], str],
        names: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        """Print `data` as JSON or YAML, its names one a line, or what `human` lays out."""
        if self.format == "json":
            click.echo(json.dumps(plain(data), indent=2, sort_keys=True))
        elif self.format == "yaml":
            import yaml  # only the commands asked for YAML pay for its import

            click.echo(yaml.safe_dump(plain(data), sort_keys=False, allow_unicode=True), nl=False)
        elif self.format == "name" and names is not None:
            for name in names():
                click.echo(name)
        else:  # `name` where nothing has a name prints the table: better than nothing at all
            text = human()
            if text:
                click.echo(text)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
        return table(header, rows, headers=self.headers)


def output_options(command: F) -> F:
    """Adds `-o/--output`, `--json` and `--no-headers`; the command receives `out: Output`.

    The choice is also kept on the context's App, so that an error under `-o json` is printed as
    a JSON object too.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, output: str, as_json: bool, no_headers: bool, **kwargs: Any) -> Any:
        out = Output(format="json" if as_json else output.lower(), headers=not no_headers)
        remember(out)
        return command(*args, out=out, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]


_OPTIONS = (
    click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS, case_sensitive=False),
        default="table",
        show_default=True,
        help="Output format: wide adds columns; json and yaml are for scripts (RFC 3339 UTC "
        "times); name prints one name a line.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Same as -o json."),
    click.option("--no-headers", is_flag=True, help="Tables without their header line."),
)


def remember(out: Output) -> None:
    """Keep the format on the context's object, where the error handler finds it."""
    context = click.get_current_context(silent=True)
    if context is not None and context.obj is not None and hasattr(context.obj, "output"):
        context.obj.output = out


def table(header: Sequence[str], rows: Sequence[Sequence[object]], *, headers: bool = True) -> str:
    """Columns as wide as their widest cell, two spaces apart, no trailing blanks."""
    lines = [header, *rows] if headers else list(rows)
    if not lines:
        return ""
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def rfc3339(value: datetime) -> str:
    """The one time format of machine output: `2026-01-02T03:04:05.678Z`."""
    if value.tzinfo is None:  # our documents hold UTC; a naive one came back from a driver
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def age(since: datetime, now: datetime) -> str:
    """`45s`, `3m12s`, `2h05m`, `3d04h`: how long ago, as tables show it."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    # Imported here: this module loads for `--help`, which needs no models.
    from outbox.views.timeline import format_whole_seconds

    return format_whole_seconds(max(0, int((now - since).total_seconds())))


def short(text: str, width: int = 40) -> str:
    """One line of at most `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def plain(value: Any) -> Any:
    """Values JSON and YAML can hold: times in RFC 3339 UTC, enums as their values."""
    if hasattr(value, "model_dump"):  # a pydantic model (not imported: `--help` stays light)
        return plain(value.model_dump(by_alias=True))
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # an ObjectId, say
