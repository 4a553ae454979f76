"""Configuration from `OUTBOX_*` environment variables, read in one place.

Each daemon has one frozen settings object; the fields they share live in `CommonSettings`.
The command line also reads `.env` (the Procfile launch) and secret files (a mounted Secret);
tests build settings explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from outbox.domain.errors import InvalidInput

S = TypeVar("S", bound="CommonSettings")

# Where a Kubernetes Secret is mounted (deploy/): one file per variable, named as the variable.
SECRETS_DIR = Path("/etc/outbox/secrets")
SECRETS_DIR_VARIABLE = "OUTBOX_SECRETS_DIR"


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


def secrets_dir(environ: Mapping[str, str]) -> Path | None:
    """The directory of secret files: $OUTBOX_SECRETS_DIR, else /etc/outbox/secrets if it exists.

    A file there named after a variable (`OUTBOX_MONGODB_URI`, `OUTBOX_REDIS_URL`) holds its value,
    so passwords need not sit in the environment, where `kubectl describe` and crash reports show
    them. The environment and `.env` win over a file. An empty OUTBOX_SECRETS_DIR reads none.
    """
    named = environ.get(SECRETS_DIR_VARIABLE)
    if named is None:
        return SECRETS_DIR if SECRETS_DIR.is_dir() else None
    if not named:
        return None
    if not Path(named).is_dir():
        raise InvalidInput(
            f"invalid configuration: {SECRETS_DIR_VARIABLE}: not a directory (got {named!r})"
        )
    return Path(named)


def load(settings_class: type[S], *, env_file: str | None = None, **overrides: Any) -> S:
    """Build settings from the environment (`.env` when given, secret files); name the bad
    variable."""
    secrets = secrets_dir(os.environ)
    try:
        return settings_class(_env_file=env_file, _secrets_dir=secrets, **overrides)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            message = detail["msg"].removeprefix("Value error, ")
            if not detail["loc"]:  # a rule across fields names its variables itself
                problems.append(message)
                continue
            variable = f"OUTBOX_{str(detail['loc'][0]).upper()}"
            problems.append(
                f"{variable}: {message} ({_given(variable, detail.get('input'), secrets)})"
            )
        raise InvalidInput("invalid configuration: " + "; ".join(problems)) from None


def _given(variable: str, value: Any, secrets: Path | None) -> str:
    """The bad value, or the file it came from: a secret file's content is never printed."""
    for path in secrets.iterdir() if secrets is not None else ():
        # Matched as pydantic-settings matches them, ignoring case.
        same_name = path.name.lower() == variable.lower() and path.is_file()
        if same_name and path.read_text(encoding="utf-8").strip() == value:
            return f"in {path}"
    return f"got {value!r}"


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
