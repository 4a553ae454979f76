"""The HTTP API's settings: `OUTBOX_API_*` variables on top of the shared ones."""

from __future__ import annotations

from pydantic import Field

from outbox.runtime.settings import CommonSettings


class ApiSettings(CommonSettings):
    api_host: str = Field("127.0.0.1", min_length=1, description="address the HTTP API listens on")
    api_port: int = Field(8080, ge=0, le=65535, description="port of the HTTP API")
    api_max_body: int = Field(
        64 * 1024, ge=1024, description="largest request body in bytes; a bigger one gets 413"
    )
    api_max_waits: int = Field(
        100, ge=1, description="concurrent `/wait` long polls per replica; beyond that, 429"
    )
    api_wait_interval: float = Field(
        0.5, gt=0, le=5, description="seconds between reads of a gateway during `/wait`"
    )
    api_token_cache: float = Field(
        2.0,
        ge=0,
        le=5,
        description="seconds a replica trusts a token it looked up (revocation takes this long)",
    )
