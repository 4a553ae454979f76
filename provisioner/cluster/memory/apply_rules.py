"""What the API server accepts, and what server-side apply makes of an object.

Pure rules, shared by the memory cluster and the tests' API server emulator so that both refuse
the same manifests and merge the same way.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from provisioner.cluster.port import API_VERSIONS, KINDS, Manifest, PermanentClusterError

_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")


def merge_apply(live: Any, previous: Any, applied: Any) -> Any:
    """What server-side apply makes of `live` when one manager applies `applied`.

    Fields in `applied` are set (maps merge key by key); fields the manager set last time
    (`previous`) and no longer sets are removed; everything else (other managers' fields, server
    fields) stays. Lists are replaced whole, a simplification of the API's associative lists.
    """
    if not (isinstance(applied, dict) and isinstance(live, dict)):
        return copy.deepcopy(applied)
    before = previous if isinstance(previous, dict) else {}
    merged = {
        key: copy.deepcopy(value)
        for key, value in live.items()
        if key not in applied and key not in before
    }
    for key, value in applied.items():
        merged[key] = merge_apply(live.get(key), before.get(key), value)
    return merged


def checked_kind(kind: object) -> str:
    """`kind`, one the port handles: any other is a programming error, not the cluster's answer."""
    if kind not in KINDS:
        raise ValueError(f"unsupported kind {kind!r}: the cluster port handles {', '.join(KINDS)}")
    return str(kind)


def check_manifest(manifest: Manifest, namespace: str) -> tuple[str, str]:
    """(kind, name) of a manifest the API server would accept in `namespace`, or the error it
    would answer; shared with the tests' API server emulator so both refuse the same things."""
    kind = checked_kind(manifest.get("kind"))
    if manifest.get("apiVersion") != API_VERSIONS[kind]:
        raise PermanentClusterError(
            f"the API version in the data ({manifest.get('apiVersion')}) does not match the "
            f"expected API version ({API_VERSIONS[kind]})",
            status=400,
        )
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") or ""
    if metadata.get("namespace", namespace) != namespace:
        raise PermanentClusterError(
            "the namespace of the provided object does not match the namespace sent on the request",
            status=400,
        )
    pattern = _DNS1035_LABEL if kind == "Service" else _DNS1123_SUBDOMAIN
    if len(name) > (63 if kind == "Service" else 253) or not pattern.match(name):
        raise PermanentClusterError(
            f'{kind} "{name}" is invalid: metadata.name: Invalid value: "{name}": '
            "must be a lowercase RFC 1123 name",
            status=422,
        )
    return kind, name


def check_selector(live: Manifest, applied: Manifest) -> None:
    """A Deployment's selector is immutable: an apply that changes it is refused."""
    old = live.get("spec", {}).get("selector")
    new = applied.get("spec", {}).get("selector")
    if new is not None and old is not None and new != old:
        name = live["metadata"]["name"]
        raise PermanentClusterError(
            f'Deployment.apps "{name}" is invalid: spec.selector: Invalid value: '
            "field is immutable",
            status=422,
        )
