"""The gateway model: the user's spec, the stored documents, and their states and phases.

Validation lives here so every entry point (Python API, command line, tests) refuses the same
inputs with the same messages. Documents convert to and from MongoDB form without loss.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.functional_validators import AfterValidator

from outbox.domain.clock import as_utc

MAX_NAME_LENGTH = 40  # derived object names ("<name>-gateway" and the like) must fit 63
MAX_ENVIRONMENTS = 32

_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The grammar of github.com/distribution/reference, which container runtimes enforce.
_IMAGE_DOMAIN_PART = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_IMAGE_DOMAIN = rf"{_IMAGE_DOMAIN_PART}(?:\.{_IMAGE_DOMAIN_PART})*(?::[0-9]+)?"
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_REFERENCE = re.compile(
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


class State(StrEnum):
    """What the user asked for."""

    RUNNING = "Running"
    STOPPED = "Stopped"
    RESTARTING = "Restarting"
    DELETED = "Deleted"


class Phase(StrEnum):
    """Where the gateway actually is."""

    CREATED = "Created"
    STARTING = "Starting"
    STARTED = "Started"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"
    DELETED = "Deleted"


class EnvironmentState(StrEnum):
    INACTIVE = "Inactive"
    ACTIVE = "Active"


def check_name(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("name must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"name {value!r} is longer than {MAX_NAME_LENGTH} characters")
    if not _DNS1035_LABEL.match(value):
        raise ValueError(
            f"name {value!r} is not a DNS-1035 label: a lowercase letter first, then lowercase "
            "letters, digits or '-', not ending with '-'"
        )
    return value


def check_host(value: str) -> str:
    host = value.lower().rstrip(".") if isinstance(value, str) else value
    if not host:
        raise ValueError("host must not be empty (leave it out for no host)")
    if len(host) > 253:
        raise ValueError(f"host {value!r} is longer than 253 characters")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise ValueError(f"host {value!r} is an IP address, not a DNS name")
    labels = host.split(".")
    for label in labels:
        if len(label) > 63 or not _DNS1123_LABEL.match(label):
            raise ValueError(
                f"host {value!r} is not a DNS name: each dot-separated part must be 1-63 "
                "lowercase letters, digits or '-', not starting or ending with '-'"
            )
    return host


def check_image(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("image must not be empty")
    if len(value) > 512 or not _IMAGE_REFERENCE.match(value) or _uppercase_repository(value):
        raise ValueError(
            f"image {value!r} is not a valid image reference (like nginx:1.27 or "
            "registry.example.com/team/gateway@sha256:...)"
        )
    return value


def _uppercase_repository(value: str) -> bool:
    # The grammar lets "Team/gateway" parse as domain "Team", but runtimes only take the first
    # part as a domain when it has a '.' or ':' or is localhost; otherwise it is a (lowercase)
    # repository path, so Kubernetes would refuse the image (InvalidImageName).
    first, slash, _ = value.partition("/")
    is_domain = "." in first or ":" in first or first == "localhost"
    return bool(slash) and not is_domain and first != first.lower()


def check_environment(value: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"environment {value!r} is not a DNS label: 1-63 lowercase letters, digits or '-', "
            "not starting or ending with '-'"
        )
    return value


GatewayName = Annotated[str, AfterValidator(check_name)]
Host = Annotated[str, AfterValidator(check_host)]
Image = Annotated[str, AfterValidator(check_image)]
EnvironmentName = Annotated[str, AfterValidator(check_environment)]
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


class GatewaySpec(BaseModel):
    """What a gateway should run: the part of a gateway its user edits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: Image
    replicas: int = Field(default=1, ge=1, le=100)
    port: int = Field(default=8080, ge=1, le=65535)
    host: Host | None = None
    environments: tuple[EnvironmentName, ...] = ()

    @field_validator("replicas", "port", mode="before")
    @classmethod
    def _whole_numbers_only(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("must be a whole number")
        return value

    @field_validator("environments")
    @classmethod
    def _distinct_environments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            duplicates = sorted({name for name in value if value.count(name) > 1})
            raise ValueError(f"environments repeat: {', '.join(duplicates)}")
        if len(value) > MAX_ENVIRONMENTS:
            raise ValueError(f"at most {MAX_ENVIRONMENTS} environments")
        return value


class LastError(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    message: str
    at: UtcDatetime


class Retry(BaseModel):
    model_config = ConfigDict(frozen=True)

    attempts: int
    next_at: UtcDatetime


# The underscore keeps ids and names apart: no DNS label contains one.
GATEWAY_ID_PREFIX = "gw_"


def new_gateway_id() -> str:
    return GATEWAY_ID_PREFIX + secrets.token_hex(8)


def is_gateway_id(value: str) -> bool:
    """Whether `value` has the form of a gateway id (not whether such a gateway exists)."""
    return value.startswith(GATEWAY_ID_PREFIX)


class Gateway(BaseModel):
    """A gateway document: the user's intent (state, spec) and the actual phase."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    name: GatewayName
    live_name: str | None
    host: str | None
    live_host: str | None
    spec: GatewaySpec
    spec_version: int
    applied_spec_version: int = 0
    restart_stamp: int = 0
    applied_restart_stamp: int = 0
    state: State
    phase: Phase
    version: int
    phase_changed_at: UtcDatetime
    # When the writer last asked for a start (create, start, restart, spec update): the start
    # timeout counts from here. Documents written before it existed lack it.
    start_requested_at: UtcDatetime | None = None
    ever_started: bool = False
    last_error: LastError | None = None
    retry: Retry | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    # Who created the gateway and who made the last change of intent (a provisioner step does
    # not count: `outbox.domain.actors`), and that change's W3C trace context, which the
    # provisioner's steps continue. Documents written before they existed lack them.
    created_by: str | None = None
    updated_by: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    # The partition the writer stamped at create (`outbox.domain.partitions`); None on documents
    # written before partitions existed, until `outbox init` backfills them.
    partition: int | None = None

    @model_validator(mode="after")
    def _host_follows_spec(self) -> Self:
        if self.host != self.spec.host:
            raise ValueError("host must equal spec.host")
        return self

    def to_document(self) -> dict[str, Any]:
        document = self.model_dump(by_alias=True, mode="python")
        document["spec"]["environments"] = list(self.spec.environments)
        # Unset, not null: the partial unique indexes only cover documents that have the field.
        for field in ("live_name", "live_host"):
            if document[field] is None:
                del document[field]
        if document["partition"] is None:
            del document["partition"]  # a missing partition, as older documents have none
        # Derived, stored so the sweeper can find the gateways with work left in one indexed query.
        document["at_rest"] = self.at_rest
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Gateway:
        values = dict(document)
        values.pop("at_rest", None)
        values.setdefault("live_name", None)
        values.setdefault("live_host", None)
        return cls.model_validate(values)

    def evolve(self, **changes: Any) -> Gateway:
        """A copy with changes; validated like a fresh document."""
        values = self.model_dump(by_alias=True)
        values.update(changes)
        if "_id" in changes or "id" in changes:
            raise ValueError("a gateway's id never changes")
        return Gateway.model_validate(values)

    @property
    def at_rest(self) -> bool:
        """Nothing for the provisioner to do (the sweeper still checks Started ones for drift)."""
        match (self.state, self.phase):
            case (State.RUNNING, Phase.STARTED):
                return (
                    self.applied_spec_version >= self.spec_version
                    and self.applied_restart_stamp >= self.restart_stamp
                )
            case (State.STOPPED, Phase.STOPPED) | (State.DELETED, Phase.DELETED):
                return True
        return False


class Environment(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    gateway_id: str
    name: str
    state: EnvironmentState

    @staticmethod
    def key(gateway_id: str, name: str) -> str:
        return f"{gateway_id}:{name}"
