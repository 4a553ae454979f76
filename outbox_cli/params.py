"""Parameter types the commands share: a gateway reference and a duration."""

from __future__ import annotations

import re
from typing import Any

import click
from click.shell_completion import CompletionItem

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class GatewayRef(click.ParamType):  # type: ignore[type-arg]
    """A gateway name or `gw_` id: never empty; completed from the store's live names."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not text:
            self.fail("a gateway name or id cannot be empty", param, ctx)
        return text

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from outbox_cli.completion import gateway_names

        return [CompletionItem(name) for name in gateway_names(ctx, incomplete)]


class Duration(click.ParamType):  # type: ignore[type-arg]
    """`90`, `90s`, `5m`, `1h30m`: seconds, more than 0."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value).strip().lower())
            if match is None or not any(match.groups()):
                self.fail(f"{value!r} is not a duration like 90s, 5m or 1h30m", param, ctx)
            hours, minutes, secs = (float(part or 0) for part in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        if seconds <= 0:
            self.fail("a duration must be more than 0", param, ctx)
        return seconds


GATEWAY_REF = GatewayRef()
DURATION = Duration()
