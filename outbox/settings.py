"""Configuration from `OUTBOX_*` environment variables, read in one place.

Each daemon has one frozen settings object; the fields they share live in `CommonSettings`.
The command line also reads `.env` (the Procfile launch); tests build settings explicitly.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from outbox.errors import InvalidInput

S = TypeVar("S", bound="CommonSettings")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTBOX_", frozen=True, extra="ignore")

    mongodb_uri: str = Field(
        "mongodb://127.0.0.1:27017/?replicaSet=rs0",
        description="MongoDB URI of a replica set (transactions need one); memory:// keeps "
        "everything inside one process (the demo)",
    )
    database: str = Field("outbox", description="MongoDB database name")
    mongodb_timeout: float = Field(
        5.0, gt=0, description="seconds to wait for MongoDB before giving up"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL for the event stream")
    stream: str = Field(
        "events:gateway", min_length=1, description="Redis stream of gateway events"
    )
    namespace: str = Field(
        "gateways", min_length=1, description="Kubernetes namespace for gateway objects"
    )
    start_timeout: float = Field(
        300.0, gt=0, description="seconds a start may take before it fails"
    )
    stop_timeout: float = Field(300.0, gt=0, description="seconds before a slow stop is reported")
    delete_timeout: float = Field(
        300.0, gt=0, description="seconds before a slow delete is reported"
    )
    retention: int = Field(
        7 * 24 * 3600, ge=0, description="seconds published events are kept (0 = forever)"
    )
    log_format: Literal["text", "json"] = Field("text", description="log line format")
    grace_seconds: float = Field(
        10.0, ge=0, description="seconds to finish work in flight on SIGTERM"
    )
    probe_interval: float = Field(
        5.0,
        gt=0,
        le=300,
        description="longest wait between attempts while MongoDB or Redis is down, seconds",
    )


def load(settings_class: type[S], *, env_file: str | None = None, **overrides: Any) -> S:
    """Build settings from the environment (and `.env` when given); name the bad variable."""
    try:
        return settings_class(_env_file=env_file, **overrides)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            message = detail["msg"].removeprefix("Value error, ")
            if not detail["loc"]:  # a rule across fields names its variables itself
                problems.append(message)
                continue
            field = str(detail["loc"][0])
            problems.append(f"OUTBOX_{field.upper()}: {message} (got {detail.get('input')!r})")
        raise InvalidInput("invalid configuration: " + "; ".join(problems)) from None


def limits(model_class: type[BaseModel], field: str) -> str:
    """The bounds of a field as help shows them: `1 to 1024`, `at least 0`, `above 0`."""
    bounds = {}
    for rule in model_class.model_fields[field].metadata:
        for name in ("ge", "gt", "le", "lt"):
            if getattr(rule, name, None) is not None:
                bounds[name] = getattr(rule, name)
    low = f"at least {bounds['ge']}" if "ge" in bounds else None
    low = f"above {bounds['gt']}" if "gt" in bounds else low
    high = f"at most {bounds['le']}" if "le" in bounds else None
    high = f"below {bounds['lt']}" if "lt" in bounds else high
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']} to {bounds['le']}"
    return ", ".join(part for part in (low, high) if part) or "any"


def setting_help(settings_class: type[CommonSettings], field: str, text: str) -> str:
    """An option's help naming its variable, default and limits, as the settings define them."""
    info = settings_class.model_fields[field]
    return (
        f"{text} (default: $OUTBOX_{field.upper()} or {info.default}; "
        f"{limits(settings_class, field)})."
    )
