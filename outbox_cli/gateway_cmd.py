"""`outbox gateway …`: the writer API on the command line."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from outbox import tracing
from outbox.actors import cli_actor
from outbox.clock import utcnow
from outbox.event_documents import Read
from outbox.model import Environment, Gateway, Phase, State
from outbox.repository import UnitOfWork
from outbox.timeline import (
    TIMELINE_COLUMNS,
    PhaseSpan,
    events_of,
    phase_spans,
    span_json,
    span_line,
    time_per_phase,
    timeline_row,
    unreadable_json,
    unreadable_of,
)
from outbox.writer import UNSET, Writer
from outbox_cli.app import App, pass_app
from outbox_cli.common import json_option, print_json, table, version_option

log = logging.getLogger(__name__)

actor_option = click.option(
    "--actor",
    help="Record the change as made by this actor, KIND:NAME (default: cli:USER@HOST). "
    "Self-declared: only the HTTP API verifies who calls.",
)


@click.group()
def gateway() -> None:
    """Create, change and inspect gateways."""


@contextmanager
def _writing(app: App, command: str, actor: str | None) -> Iterator[Writer]:
    """A writer that records `actor`, inside a trace of its own (`-v` prints its id): the
    outbox event carries it on to the relay and the provisioner."""
    with tracing.command_span(f"outbox gateway {command}") as span:
        log.debug("gateway %s: trace_id %s", command, tracing.trace_id(span))
        yield Writer(app.store(), actor=cli_actor() if actor is None else actor)


@gateway.command()
@click.argument("name")
@click.option("--image", required=True, help="Container image, like nginx:1.27.")
@click.option("--replicas", type=int, default=1, show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, help="Container port.")
@click.option("--host", help="Public host name; with it the gateway gets an Ingress.")
@click.option("--env", "environments", multiple=True, help="Environment name (repeatable).")
@click.option("--stopped", is_flag=True, help="Create it Stopped instead of starting it.")
@actor_option
@json_option
@pass_app
def create(
    app: App,
    name: str,
    image: str,
    replicas: int,
    port: int,
    host: str | None,
    environments: tuple[str, ...],
    stopped: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Create gateway NAME (it starts unless --stopped)."""
    spec = {
        "image": image,
        "replicas": replicas,
        "port": port,
        "host": host,
        "environments": environments,
    }
    with _writing(app, "create", actor) as writer:
        created = writer.create(name, spec, stopped=stopped)
    _show(app, created, as_json, verb="created")


def _intent_command(action: str, help_text: str) -> click.Command:
    @click.argument("ref", metavar="NAME")
    @version_option
    @actor_option
    @json_option
    @pass_app
    def command(
        app: App, ref: str, expected_version: int | None, actor: str | None, as_json: bool
    ) -> None:
        with _writing(app, action, actor) as writer:
            changed = getattr(writer, action)(ref, expected_version=expected_version)
        _show(app, changed, as_json, verb=f"{action} requested")

    command.__doc__ = help_text
    return gateway.command(name=action)(command)


_intent_command("start", "Ask for gateway NAME (a name or gw_ id) to run.")
_intent_command("stop", "Ask for gateway NAME to stop; its objects are removed.")
_intent_command("restart", "Roll gateway NAME's pods once.")
_intent_command("delete", "Delete gateway NAME; its name and host become free once Deleted.")


@gateway.command()
@click.argument("ref", metavar="NAME")
@click.option("--image")
@click.option("--replicas", type=int)
@click.option("--port", type=int)
@click.option("--host", help="New host.")
@click.option("--no-host", is_flag=True, help="Remove the host (and the Ingress).")
@click.option(
    "--env", "environments", multiple=True, help="The new set of environments (repeatable)."
)
@click.option("--no-env", is_flag=True, help="Remove every environment.")
@version_option
@actor_option
@json_option
@pass_app
def update(
    app: App,
    ref: str,
    image: str | None,
    replicas: int | None,
    port: int | None,
    host: str | None,
    no_host: bool,
    environments: tuple[str, ...],
    no_env: bool,
    expected_version: int | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Change gateway NAME's spec; only the options given change."""
    if host is not None and no_host:
        raise click.UsageError("--host and --no-host exclude each other")
    if environments and no_env:
        raise click.UsageError("--env and --no-env exclude each other")
    changes: dict[str, Any] = {
        "image": UNSET if image is None else image,
        "replicas": UNSET if replicas is None else replicas,
        "port": UNSET if port is None else port,
        "host": None if no_host else (UNSET if host is None else host),
        "environments": () if no_env else (environments or UNSET),
    }
    with _writing(app, "update", actor) as writer:
        updated = writer.update(ref, expected_version=expected_version, **changes)
    _show(app, updated, as_json, verb="updated")


@gateway.command()
@click.argument("ref", metavar="NAME")
@json_option
@pass_app
def get(app: App, ref: str, as_json: bool) -> None:
    """Show gateway NAME: intent, phase, spec, environments and last error."""
    _show(app, Writer(app.store()).get(ref), as_json)


@gateway.command(name="list")
@click.option("--state", type=click.Choice([s.value for s in State]))
@click.option("--phase", type=click.Choice([p.value for p in Phase]))
@json_option
@pass_app
def list_gateways(app: App, state: str | None, phase: str | None, as_json: bool) -> None:
    """List gateways, oldest first."""
    gateways = Writer(app.store()).list(
        state=State(state) if state else None, phase=Phase(phase) if phase else None
    )
    if as_json:
        print_json([gateway_json(item) for item in gateways])
        return
    rows = [
        (g.name, g.id, g.state, g.phase, str(g.version), g.spec.image, g.spec.host or "-")
        for g in gateways
    ]
    click.echo(table(("NAME", "ID", "STATE", "PHASE", "VERSION", "IMAGE", "HOST"), rows))


def gateway_json(gateway: Gateway, environments: list[Environment] | None = None) -> dict[str, Any]:
    data = gateway.model_dump(mode="json")
    if environments is not None:
        data["environments"] = {env.name: env.state.value for env in environments}
    return data


def _show(app: App, gateway: Gateway, as_json: bool, *, verb: str | None = None) -> None:
    environments = Writer(app.store()).environments(gateway.id)
    if as_json:
        print_json(gateway_json(gateway, environments))
        return
    if verb:
        click.echo(f"{verb}: {gateway.name} ({gateway.id}) version {gateway.version}")
    spec = gateway.spec
    lines = [
        ("name", gateway.name),
        ("id", gateway.id),
        ("state", f"{gateway.state} (desired)"),
        ("phase", f"{gateway.phase} since {gateway.phase_changed_at:%Y-%m-%d %H:%M:%S}Z"),
        (
            "version",
            f"{gateway.version} (spec {gateway.spec_version}, "
            f"applied {gateway.applied_spec_version})",
        ),
        ("image", spec.image),
        ("replicas", str(spec.replicas)),
        ("port", str(spec.port)),
        ("host", spec.host or "-"),
        ("environments", ", ".join(f"{e.name}={e.state}" for e in environments) or "-"),
        ("changed by", f"{gateway.updated_by or '-'} (created by {gateway.created_by or '-'})"),
    ]
    if gateway.last_error is not None:
        error = gateway.last_error
        lines.append(("last error", f"{error.reason}: {error.message} (at {error.at:%H:%M:%S}Z)"))
    if gateway.retry is not None:
        lines.append(
            (
                "retry",
                f"attempt {gateway.retry.attempts}, next at {gateway.retry.next_at:%H:%M:%S}Z",
            )
        )
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        click.echo(f"  {key.ljust(width)}  {value}")


@gateway.command()
@click.argument("ref", metavar="NAME")
@json_option
@pass_app
def timeline(app: App, ref: str, as_json: bool) -> None:
    """Every retained event of gateway NAME in order, and the time spent in each phase."""
    found = Writer(app.store()).get(ref)
    history = UnitOfWork(app.store()).events.history(found.id)
    spans = phase_spans(events_of(history), now=utcnow())
    if as_json:
        print_json(_timeline_json(found, history, spans))
    else:
        _print_timeline(found, history, spans)


def _timeline_json(
    found: Gateway, history: Sequence[Read], spans: Sequence[PhaseSpan]
) -> dict[str, Any]:
    return {
        "gateway": {
            "id": found.id,
            "name": found.name,
            "state": str(found.state),
            "phase": str(found.phase),
        },
        "events": [event.model_dump(mode="json", by_alias=True) for event in events_of(history)],
        "unreadable": [unreadable_json(entry) for entry in unreadable_of(history)],
        "phases": [span_json(span) for span in spans],
        "time_per_phase": time_per_phase(spans),
    }


def _print_timeline(found: Gateway, history: Sequence[Read], spans: Sequence[PhaseSpan]) -> None:
    click.echo(f"{found.name} ({found.id}): state {found.state}, phase {found.phase}")
    rows = [timeline_row(entry) for entry in history]
    click.echo(table(TIMELINE_COLUMNS, rows))
    click.echo("\ntime in each phase")
    for span in spans:
        click.echo(f"  {span_line(span)}")
