"""The OpenAPI document of the API, as committed in `openapi.json`.

`python -m outbox_api.openapi > openapi.json` writes it; a test keeps the file equal to it.
"""

from __future__ import annotations

import json
from typing import Any

from outbox.store.memory.store import MemoryStore
from outbox_api.app import create_app


def document() -> dict[str, Any]:
    # The document depends on the routes only, never on the store behind them.
    return create_app(MemoryStore()).openapi()


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
