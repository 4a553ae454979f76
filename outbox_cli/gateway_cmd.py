"""`outbox gateway …`: the writer API on the command line, with waiting and watching."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from outbox.domain.actors import cli_actor
from outbox.domain.clock import utcnow
from outbox.domain.event_documents import Read
from outbox.domain.model import Environment, Gateway, GatewaySpec, Phase, State
from outbox.domain.settling import Target, target_of
from outbox.runtime import tracing
from outbox.runtime.settings import limits
from outbox.store.repository import UnitOfWork
from outbox.views.timeline import (
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
from outbox.views.waiting import Settled, outcome_error, wait_until_settled
from outbox.writer import UNSET, Writer
from outbox_cli.app import App, pass_app
from outbox_cli.common import version_option
from outbox_cli.output import F, Output, age, output_options, plain, short
from outbox_cli.params import DURATION, GATEWAY_REF
from outbox_cli.watching import watch

DEFAULT_TIMEOUT = 300.0

log = logging.getLogger(__name__)

actor_option = click.option(
    "--actor",
    help="Record the change as made by this actor, KIND:NAME (default: cli:USER@HOST). "
    "Self-declared: only the HTTP API verifies who calls.",
)


@click.group()
def gateway() -> None:
    """Create, change and inspect gateways."""


ref_argument = click.argument("ref", metavar="NAME", type=GATEWAY_REF)
watch_option = click.option(
    "-w", "--watch", is_flag=True, help="After printing, print again on every change (Ctrl-C)."
)


def wait_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--timeout",
        type=DURATION,
        default="5m",
        show_default=True,
        help="With --wait: how long to wait (90s, 5m, 1h; more than 0). Exit 8 when it passes.",
    )(command)
    return click.option(
        "--wait",
        is_flag=True,
        help="Wait until the provisioner has carried the change out: exit 0 when the gateway "
        "settled as asked, 7 when it settled elsewhere (the last error says why).",
    )(command)


@contextmanager
def _writing(app: App, command: str, actor: str | None) -> Iterator[Writer]:
    """A writer that records `actor`, inside a trace of its own (`-v` prints its id): the
    outbox event carries it on to the relay and the provisioner."""
    with tracing.command_span(f"outbox gateway {command}") as span:
        log.debug("gateway %s: trace_id %s", command, tracing.trace_id(span))
        yield Writer(app.store(), actor=cli_actor() if actor is None else actor)


def _spec_number(field: str, what: str, *, default: int | None = None) -> Callable[[F], F]:
    """`--FIELD`, a number of the spec, its bounds in the help; create gives it a default."""
    return click.option(
        f"--{field}",
        type=int,
        default=default,
        show_default=default is not None,
        help=f"{what} ({limits(GatewaySpec, field)}).",
    )


@gateway.command()
@click.argument("name")
@click.option(
    "--image",
    required=True,
    help="Container image, like nginxinc/nginx-unprivileged:1.27 (non-root, on 8080).",
)
@_spec_number("replicas", "Pods", default=1)
@_spec_number("port", "Container port", default=8080)
@click.option("--host", help="Public host name; with it the gateway gets an Ingress.")
@click.option("--env", "environments", multiple=True, help="Environment name (repeatable).")
@click.option("--stopped", is_flag=True, help="Create it Stopped instead of starting it.")
@wait_options
@actor_option
@output_options
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
    wait: bool,
    timeout: float,
    actor: str | None,
    out: Output,
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
    _written(app, created, out, verb="created", wait=timeout if wait else None)


def _intent_command(action: str, help_text: str) -> click.Command:
    @ref_argument
    @version_option
    @wait_options
    @actor_option
    @output_options
    @pass_app
    def command(
        app: App,
        ref: str,
        expected_version: int | None,
        wait: bool,
        timeout: float,
        actor: str | None,
        out: Output,
    ) -> None:
        with _writing(app, action, actor) as writer:
            written = getattr(writer, action)(ref, expected_version=expected_version)
        _written(app, written, out, verb=f"{action} requested", wait=timeout if wait else None)

    command.__doc__ = help_text
    return gateway.command(name=action)(command)


_intent_command("start", "Ask for gateway NAME (a name or gw_ id) to run.")
_intent_command("stop", "Ask for gateway NAME to stop; its objects are removed.")
_intent_command("restart", "Roll gateway NAME's pods once.")
_intent_command("delete", "Delete gateway NAME; its name and host become free once Deleted.")


@gateway.command()
@ref_argument
@click.option("--image")
@_spec_number("replicas", "Pods")
@_spec_number("port", "Container port")
@click.option("--host", help="New host.")
@click.option("--no-host", is_flag=True, help="Remove the host (and the Ingress).")
@click.option(
    "--env", "environments", multiple=True, help="The new set of environments (repeatable)."
)
@click.option("--no-env", is_flag=True, help="Remove every environment.")
@version_option
@wait_options
@actor_option
@output_options
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
    wait: bool,
    timeout: float,
    actor: str | None,
    out: Output,
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
    _written(app, updated, out, verb="updated", wait=timeout if wait else None)


def _written(app: App, written: Gateway, out: Output, *, verb: str, wait: float | None) -> None:
    """Print what a write returned, or (with --wait) what it came to; exit 7 or 8 if not met."""
    if wait is None:
        _show(app, written, out, verb=verb)
        return
    (result,) = wait_until_settled(app.store(), {written.id: target_of(written)}, timeout=wait)
    _show(app, result.gateway or written, out, verb=verb)
    error = outcome_error([result])
    if error is not None:
        raise error


# -- reading ----------------------------------------------------------------------------------


@gateway.command()
@ref_argument
@watch_option
@output_options
@pass_app
def get(app: App, ref: str, watch: bool, out: Output) -> None:
    """Show gateway NAME: intent, phase, spec, environments and last error."""
    writer = Writer(app.store())
    found = writer.get(ref)
    if not watch:
        _show(app, found, out)
        return

    def fetch() -> tuple[Gateway | None, list[Environment]]:
        current = UnitOfWork(app.store()).gateways.get(found.id)
        return current, writer.environments(found.id) if current else []

    def show(now: tuple[Gateway | None, list[Environment]], before: object) -> None:
        if before is not None and not out.machine:
            click.echo("")
        if now[0] is None:
            click.echo(f"{found.name} ({found.id}) no longer exists")
        else:
            _print_gateway(now[0], now[1], out)

    _watch(app, fetch, show)


def _watch(app: App, fetch: Callable[[], Any], show: Callable[[Any, Any], None]) -> None:
    watch(app.store(), fetch, show)


@gateway.command(name="list")
@click.option(
    "--state",
    type=click.Choice([s.value for s in State], case_sensitive=False),
    help="Only gateways with this desired state (any case).",
)
@click.option(
    "--phase",
    type=click.Choice([p.value for p in Phase], case_sensitive=False),
    help="Only gateways in this phase (any case).",
)
@click.option(
    "-A",
    "--all",
    "everything",
    is_flag=True,
    help="Deleted gateways too (hidden unless a filter asks for them).",
)
@watch_option
@output_options
@pass_app
def list_gateways(
    app: App, state: str | None, phase: str | None, everything: bool, watch: bool, out: Output
) -> None:
    """List gateways, oldest first."""
    wanted_state = State(state) if state else None
    wanted_phase = Phase(phase) if phase else None
    deleted_asked = everything or State.DELETED in (wanted_state, wanted_phase)

    def fetch() -> list[Gateway]:
        found = Writer(app.store()).list(state=wanted_state, phase=wanted_phase)
        return [g for g in found if deleted_asked or g.phase is not Phase.DELETED]

    if not watch:
        _print_list(fetch(), out, header=True)
        return

    def show(now: list[Gateway], before: list[Gateway] | None) -> None:
        # Like `kubectl get -w`: the whole list first, then each gateway that changed.
        changed = now if before is None else [g for g in now if g not in before]
        _print_list(changed, out, header=before is None)

    _watch(app, fetch, show)


LIST_HEADER = ("NAME", "STATE", "PHASE", "VERSION", "AGE", "LAST-ERROR")
WIDE_HEADER = (*LIST_HEADER, "ID", "IMAGE", "HOST", "ENVIRONMENTS")


def _print_list(gateways: Sequence[Gateway], out: Output, *, header: bool) -> None:
    now = utcnow()
    rows = [_list_row(g, now, wide=out.wide) for g in gateways]
    out = Output(out.format, headers=out.headers and header)
    out.emit(
        [gateway_json(g) for g in gateways],
        human=lambda: out.table(WIDE_HEADER if out.wide else LIST_HEADER, rows),
        names=lambda: [g.name for g in gateways],
    )


def _list_row(gateway: Gateway, now: datetime, *, wide: bool) -> tuple[str, ...]:
    error = gateway.last_error
    row = (
        gateway.name,
        str(gateway.state),
        str(gateway.phase),
        str(gateway.version),
        age(gateway.created_at, now),
        "-" if error is None else short(f"{error.reason}: {error.message}", 32),
    )
    if not wide:
        return row
    spec = gateway.spec
    environments = ",".join(spec.environments) or "-"
    return (*row, gateway.id, spec.image, spec.host or "-", environments)


def gateway_json(gateway: Gateway, environments: list[Environment] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = plain(gateway.model_dump())
    if environments is not None:
        data["environments"] = {env.name: env.state.value for env in environments}
    return data


def _show(app: App, gateway: Gateway, out: Output, *, verb: str | None = None) -> None:
    environments = Writer(app.store()).environments(gateway.id)
    if verb and not out.machine and out.format != "name":
        click.echo(f"{verb}: {gateway.name} ({gateway.id}) version {gateway.version}")
    _print_gateway(gateway, environments, out)


def _print_gateway(gateway: Gateway, environments: list[Environment], out: Output) -> None:
    out.emit(
        gateway_json(gateway, environments),
        human=lambda: _details(gateway, environments),
        names=lambda: [gateway.name],
    )


def _details(gateway: Gateway, environments: list[Environment]) -> str:
    now, spec = utcnow(), gateway.spec
    lines = [
        ("name", gateway.name),
        ("id", gateway.id),
        ("state", f"{gateway.state} (desired)"),
        ("phase", f"{gateway.phase} for {age(gateway.phase_changed_at, now)}"),
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
        ("age", age(gateway.created_at, now)),
        ("changed by", f"{gateway.updated_by or '-'} (created by {gateway.created_by or '-'})"),
    ]
    if gateway.last_error is not None:
        error = gateway.last_error
        lines.append(("last error", f"{error.reason}: {error.message} ({age(error.at, now)} ago)"))
    if gateway.retry is not None:
        retry = gateway.retry
        wait = age(now, retry.next_at) if retry.next_at > now else "now"
        lines.append(("retry", f"attempt {retry.attempts}, next in {wait}"))
    width = max(len(key) for key, _ in lines)
    return "\n".join(f"  {key.ljust(width)}  {value}" for key, value in lines)


# -- waiting ----------------------------------------------------------------------------------


def _phase_condition(value: str) -> Phase:
    key, _, phase = value.partition("=")
    allowed = (Phase.STARTED, Phase.STOPPED, Phase.DELETED)
    for candidate in allowed:
        if key.strip().lower() == "phase" and phase.strip().lower() == candidate.value.lower():
            return candidate
    raise click.BadParameter(
        f"{value!r}: give phase=Started, phase=Stopped or phase=Deleted", param_hint="--for"
    )


@gateway.command()
@click.argument("refs", metavar="NAME...", nargs=-1, required=True, type=GATEWAY_REF)
@click.option(
    "--for",
    "condition",
    required=True,
    help="phase=Started, phase=Stopped or phase=Deleted (any case).",
)
@click.option(
    "--timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    help="How long to wait (90s, 5m, 1h; more than 0). Exit 8 when it passes.",
)
@output_options
@pass_app
def wait(app: App, refs: tuple[str, ...], condition: str, timeout: float, out: Output) -> None:
    """Wait until every gateway NAME is at rest in a phase.

    Exits 0 when all settled in that phase, 7 when one settled elsewhere (a start degraded by
    its timeout, say: the last error is printed), 8 when the timeout passed first.
    """
    phase = _phase_condition(condition)
    writer = Writer(app.store())
    targets = {writer.get(ref).id: Target(phase) for ref in refs}
    results = wait_until_settled(app.store(), targets, timeout=timeout)
    out.emit(
        [_settled_json(result) for result in results],
        human=lambda: out.table(("NAME", "PHASE", "RESULT"), [_settled_row(r) for r in results]),
        names=lambda: [r.gateway.name if r.gateway else r.gateway_id for r in results],
    )
    error = outcome_error(results)
    if error is not None:
        raise error


def _settled_row(result: Settled) -> tuple[str, str, str]:
    if result.gateway is None:
        return result.gateway_id, "(gone)", str(result.verdict)
    return result.gateway.name, str(result.gateway.phase), str(result.verdict)


def _settled_json(result: Settled) -> dict[str, Any]:
    return {
        "id": result.gateway_id,
        "wanted": str(result.target.phase),
        "result": str(result.verdict),
        "gateway": None if result.gateway is None else gateway_json(result.gateway),
    }


# -- timeline ---------------------------------------------------------------------------------


@gateway.command()
@ref_argument
@watch_option
@output_options
@pass_app
def timeline(app: App, ref: str, watch: bool, out: Output) -> None:
    """Every retained event of gateway NAME in order, and the time spent in each phase."""
    found = Writer(app.store()).get(ref)

    def fetch() -> list[Read]:
        return UnitOfWork(app.store()).events.history(found.id)

    if not watch:
        _print_timeline(app, found, fetch(), out)
        return

    def show(history: list[Read], before: list[Read] | None) -> None:
        if before is None or out.machine:
            _print_timeline(app, found, history, out)
            return
        rows = [timeline_row(entry) for entry in history if entry not in before]
        click.echo(out.table(TIMELINE_COLUMNS, rows).partition("\n")[2])

    _watch(app, fetch, show)


def _print_timeline(app: App, found: Gateway, history: Sequence[Read], out: Output) -> None:
    current = UnitOfWork(app.store()).gateways.get(found.id) or found
    spans = phase_spans(events_of(history), now=utcnow())
    out.emit(
        _timeline_json(current, history, spans),
        human=lambda: _timeline_text(current, history, spans, out),
        names=lambda: [current.name],
    )


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
        "events": [event.model_dump(by_alias=True) for event in events_of(history)],
        "unreadable": [unreadable_json(entry) for entry in unreadable_of(history)],
        "phases": [span_json(span) for span in spans],
        "time_per_phase": time_per_phase(spans),
    }


def _timeline_text(
    found: Gateway, history: Sequence[Read], spans: Sequence[PhaseSpan], out: Output
) -> str:
    rows = [timeline_row(entry) for entry in history]
    lines = [
        f"{found.name} ({found.id}): state {found.state}, phase {found.phase}",
        out.table(TIMELINE_COLUMNS, rows),
        "",
        "time in each phase",
        *(f"  {span_line(span)}" for span in spans),
    ]
    return "\n".join(lines)
