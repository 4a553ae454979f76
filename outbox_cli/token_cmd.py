"""`outbox token create|list|revoke`: the bearer tokens of the HTTP API."""

from __future__ import annotations

import click

from outbox.clock import utcnow
from outbox.tokens import Role, Token, Tokens, parse_duration
from outbox_cli.app import App, pass_app
from outbox_cli.common import json_option, print_json, table


@click.group()
def token() -> None:
    """Tokens of the HTTP API: reader (GET), writer (also changes), admin (also tokens)."""


@token.command()
@click.argument("name")
@click.option("--role", type=click.Choice([str(role) for role in Role]), required=True)
@click.option("--expires", help="Lifetime such as 90d, 12h or 2w (default: never).")
@pass_app
def create(app: App, name: str, role: str, expires: str | None) -> None:
    """Create a token and print it, alone on stdout: it is shown this once, never stored."""
    lifetime = None if expires is None else parse_duration(expires)
    issued = Tokens(app.store()).create(name, role, expires_in=lifetime)
    click.echo(issued.bearer)
    until = "never" if issued.token.expires_at is None else issued.token.expires_at.isoformat()
    click.echo(f"token {name} ({role}, {issued.token.id}) created; expires: {until}", err=True)


@token.command("list")
@json_option
@pass_app
def list_tokens(app: App, as_json: bool) -> None:
    """Every token, revoked ones too (never a secret)."""
    tokens = Tokens(app.store()).list()
    if as_json:
        print_json([token_json(item) for item in tokens])
        return
    rows = [
        (
            item.name,
            item.role,
            item.id,
            _status(item),
            _when(item.expires_at),
            _when(item.last_used_at),
        )
        for item in tokens
    ]
    click.echo(table(("NAME", "ROLE", "ID", "STATUS", "EXPIRES", "LAST USED"), rows))


@token.command()
@click.argument("name")
@pass_app
def revoke(app: App, name: str) -> None:
    """Revoke the token: every API replica refuses it within OUTBOX_API_TOKEN_CACHE seconds."""
    revoked = Tokens(app.store()).revoke(name)
    click.echo(f"token {revoked.name} ({revoked.id}) revoked")


def token_json(item: Token) -> dict[str, object]:
    return item.model_dump(mode="json", exclude={"digest"})


def _status(item: Token) -> str:
    if item.revoked_at is not None:
        return "revoked"
    return "active" if item.usable(utcnow()) else "expired"


def _when(value: object) -> str:
    return "-" if value is None else str(value)
