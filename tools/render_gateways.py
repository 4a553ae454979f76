"""Writes the Kubernetes objects of a fixed matrix of gateways, for `make security` to scan.

The objects are what the provisioner applies for a tenant's gateway, rendered by the product's
own `provisioner.manifests.desired_objects`, one YAML file per gateway: with and without a host,
one and three replicas, different ports and images. A scan of them checks the manifests the
product writes, not a hand-written copy of them.

    python tools/render_gateways.py OUTPUT_DIR
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from outbox.domain.model import Gateway, GatewaySpec, Phase, State
from provisioner.manifests import desired_objects

NAMESPACE = "gateways"
START_TIMEOUT_SECONDS = 300

# name -> spec: every combination of host and replica count, each with its own port and image.
MATRIX: dict[str, dict[str, Any]] = {
    "edge": {
        "image": "nginxinc/nginx-unprivileged:1.27",
        "replicas": 3,
        "port": 8080,
        "host": "edge.example.com",
    },
    "billing": {
        "image": "registry.example.com/team/billing-proxy:2.4.1",
        "replicas": 1,
        "port": 9000,
        "host": "billing.example.com",
        "environments": ("prod",),
    },
    "internal": {"image": "envoyproxy/envoy:v1.31.2", "replicas": 3, "port": 10000},
    "solo": {"image": "ghcr.io/example/gateway:1.0.0", "replicas": 1, "port": 8443},
}


class _Dumper(yaml.SafeDumper):
    """Writes a dict the objects share (one probe's port) in full each time, as kubectl would."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def gateway(name: str, spec: dict[str, Any], *, number: int) -> Gateway:
    """A gateway document as the writer stores it, started, with this spec."""
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    gateway_spec = GatewaySpec(**spec)
    return Gateway.model_validate(
        {
            "_id": f"gw_{number:016x}",
            "name": name,
            "live_name": name,
            "host": gateway_spec.host,
            "live_host": gateway_spec.host,
            "spec": gateway_spec,
            "spec_version": 1,
            "state": State.RUNNING,
            "phase": Phase.STARTING,
            "version": 2,
            "phase_changed_at": at,
            "created_at": at,
            "updated_at": at,
        }
    )


def render(gateway: Gateway) -> list[dict[str, Any]]:
    """The objects the provisioner would apply for this gateway: the one call to change when
    `desired_objects` takes more arguments."""
    return desired_objects(
        gateway, namespace=NAMESPACE, start_timeout_seconds=START_TIMEOUT_SECONDS
    )


def write_all(directory: Path) -> list[Path]:
    """One file per gateway of the matrix, `<name>.yaml`, each holding all of its objects."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (name, spec) in enumerate(MATRIX.items(), start=1):
        path = directory / f"{name}.yaml"
        objects = render(gateway(name, spec, number=number))
        path.write_text(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    for path in write_all(Path(argv[0])):
        print(f"rendered {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
