"""`outbox completion bash|zsh|fish`, and gateway names completed from the store.

A completion runs on every Tab: it asks MongoDB for at most a second, and a database that is
slow or down completes nothing rather than keeping the shell waiting.
"""

from __future__ import annotations

import threading
from typing import Any

import click
from click.shell_completion import get_completion_class

from outbox.runtime.settings import CommonSettings, load
from outbox.store.gateway_queries import GatewayQueries

COMPLETION_SECONDS = 1.0
MOST_NAMES = 500
SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS, case_sensitive=False))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish).

    \b
    bash:  eval "$(outbox completion bash)"   (in ~/.bashrc)
    zsh:   eval "$(outbox completion zsh)"    (in ~/.zshrc)
    fish:  outbox completion fish > ~/.config/fish/completions/outbox.fish
    """
    shell_class = get_completion_class(shell.lower())
    assert shell_class is not None  # click knows every shell of SHELLS
    root = ctx.find_root().command
    click.echo(shell_class(root, {}, "outbox", "_OUTBOX_COMPLETE").source())


def gateway_names(ctx: click.Context, incomplete: str) -> list[str]:
    """Live gateway names starting with `incomplete`; none after COMPLETION_SECONDS."""
    found: list[str] = []
    # The driver is imported before the clock starts: the second is the database's to answer.
    import outbox.store.mongo.store  # noqa: F401

    def ask() -> None:
        try:
            found.extend(_live_names(ctx.find_root().params, incomplete))
        except Exception:  # a completion never prints an error
            return

    worker = threading.Thread(target=ask, name="complete", daemon=True)
    worker.start()
    worker.join(COMPLETION_SECONDS)
    # Gave up on the store: the process ends at once all the same (outbox_cli.main.end), not
    # waiting for the driver's threads still trying to reach it.
    return [] if worker.is_alive() else sorted(found)


def _live_names(params: dict[str, Any], incomplete: str) -> list[str]:
    from outbox_cli.common import open_store

    given = {key: params.get(key) for key in ("mongodb_uri", "database")}
    overrides = {key: value for key, value in given.items() if value}
    env_file = params.get("env_file") or None
    settings = load(
        CommonSettings, env_file=env_file, mongodb_timeout=COMPLETION_SECONDS, **overrides
    )
    store = open_store(settings)
    try:
        names = GatewayQueries(store).live_names(limit=MOST_NAMES)
    finally:
        store.close()
    return [name for name in names if name.startswith(incomplete)]
