"""`outbox token create|list|revoke`: the bearer tokens of the HTTP API."""

from __future__ import annotations

from datetime import datetime

import click

from outbox.domain.clock import utcnow
from outbox_api.tokens import Role, Token, Tokens, parse_duration
from outbox_cli.app import App, pass_app
from outbox_cli.output import Output, age, output_options, rfc3339


@click.group()
def token() -> None:
    """Tokens of the HTTP API: reader (GET), writer (also changes), admin (also tokens)."""


@token.command()
@click.argument("name")
@click.option(
    "--role", type=click.Choice([str(role) for role in Role], case_sensitive=False), required=True
)
@click.option("--expires", help="Lifetime such as 90d, 12h or 2w (default: never).")
@pass_app
def create(app: App, name: str, role: str, expires: str | None) -> None:
    """Create a token and print it, alone on stdout: it is shown this once, never stored."""
    lifetime = None if expires is None else parse_duration(expires)
    issued = Tokens(app.store()).create(name, role.lower(), expires_in=lifetime)
    click.echo(issued.bearer)
    until = "never" if issued.token.expires_at is None else rfc3339(issued.token.expires_at)
    click.echo(f"token {name} ({role}, {issued.token.id}) created; expires: {until}", err=True)


@token.command("list")
@output_options
@pass_app
def list_tokens(app: App, out: Output) -> None:
    """Every token, revoked ones too (never a secret)."""
    tokens = Tokens(app.store()).list()
    now = utcnow()
    rows = [
        (
            item.name,
            item.role,
            item.id,
            _status(item),
            _when(item.expires_at, now),
            _when(item.last_used_at, now),
        )
        for item in tokens
    ]
    out.emit(
        [token_json(item) for item in tokens],
        human=lambda: out.table(("NAME", "ROLE", "ID", "STATUS", "EXPIRES", "LAST USED"), rows),
        names=lambda: [item.name for item in tokens],
    )


@token.command()
@click.argument("name")
@output_options
@pass_app
def revoke(app: App, name: str, out: Output) -> None:
    """Revoke the token: every API replica refuses it within OUTBOX_API_TOKEN_CACHE seconds."""
    revoked = Tokens(app.store()).revoke(name)
    out.emit(
        token_json(revoked),
        human=lambda: f"token {revoked.name} ({revoked.id}) revoked",
        names=lambda: [revoked.name],
    )


def token_json(item: Token) -> dict[str, object]:
    """Times stay datetimes: the output prints every time in one format."""
    return item.model_dump(exclude={"digest"})


def _status(item: Token) -> str:
    if item.revoked_at is not None:
        return "revoked"
    return "active" if item.usable(utcnow()) else "expired"


def _when(value: datetime | None, now: datetime) -> str:
    """An age for the past ("3m12s ago"), the time left for the future ("in 89d")."""
    if value is None:
        return "-"
    return f"{age(value, now)} ago" if value <= now else f"in {age(now, value)}"
