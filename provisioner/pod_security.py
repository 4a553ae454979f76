"""Pod Security Standards, "restricted" profile: the checks admission runs on a pod. Pure.

The provisioner renders pods that must pass it (a multi-tenant cluster labels its namespaces
`pod-security.kubernetes.io/enforce=restricted`); the in-memory cluster and the tests' API
server emulator use it to refuse, as the real admission does, the pods of a Deployment that
fails it. Checks and messages follow k8s.io/pod-security-admission/policy (restricted:latest),
so a refusal reads as it would on a real cluster.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any

PROFILE = 'PodSecurity "restricted:latest"'
# Volume types the restricted profile admits; any other (hostPath, nfs, ...) is refused.
ALLOWED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_VOLUME_SOURCE_FIELDS = frozenset({"name"})
_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
_SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")

PodSpec = dict[str, Any]
_Check = Callable[[PodSpec], Iterator[str]]


def violations(pod_spec: PodSpec) -> list[str]:
    """What keeps the pod from passing the restricted profile, one item per failed check, in
    the admission's order and words; empty when it passes."""
    return [problem for check in _CHECKS for problem in check(pod_spec)]


def forbidden_message(pod_name: str, problems: list[str]) -> str:
    """The API server's refusal of a pod, as the ReplicaSet controller reports it."""
    return f'pods "{pod_name}" is forbidden: violates {PROFILE}: {", ".join(problems)}'


def warning(problems: list[str]) -> str:
    """The admission's warning on a Deployment (or any pod template) that would be refused."""
    return f"would violate {PROFILE}: {', '.join(problems)}"


def _containers(pod_spec: PodSpec) -> list[dict[str, Any]]:
    return [
        *(pod_spec.get("initContainers") or []),
        *(pod_spec.get("containers") or []),
        *(pod_spec.get("ephemeralContainers") or []),
    ]


def _context(container: dict[str, Any]) -> dict[str, Any]:
    return dict(container.get("securityContext") or {})


def _pod_context(pod_spec: PodSpec) -> dict[str, Any]:
    return dict(pod_spec.get("securityContext") or {})


def _named(word: str, names: list[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in names)
    return f"{word} {quoted}" if len(names) == 1 else f"{word}s {quoted}"


def _host_namespaces(pod_spec: PodSpec) -> Iterator[str]:
    used = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod_spec.get(key)]
    if used:
        yield f"host namespaces ({', '.join(used)})"


def _privileged(pod_spec: PodSpec) -> Iterator[str]:
    names = [c["name"] for c in _containers(pod_spec) if _context(c).get("privileged")]
    if names:
        must = "must not set securityContext.privileged=true"
        yield f"privileged ({_named('container', names)} {must})"


def _host_ports(pod_spec: PodSpec) -> Iterator[str]:
    used = [
        (container["name"], port["hostPort"])
        for container in _containers(pod_spec)
        for port in container.get("ports") or []
        if port.get("hostPort")
    ]
    if used:
        names = sorted({name for name, _ in used})
        ports = ", ".join(str(port) for _, port in used)
        plural = "s" if len(used) > 1 else ""
        yield f"hostPort ({_named('container', names)} uses hostPort{plural} {ports})"


def _volume_types(pod_spec: PodSpec) -> Iterator[str]:
    refused = []
    for volume in pod_spec.get("volumes") or []:
        kinds = [key for key in volume if key not in _VOLUME_SOURCE_FIELDS]
        refused += [(volume.get("name", ""), kind) for kind in kinds if kind not in ALLOWED_VOLUMES]
    if refused:
        described = ", ".join(
            f'volume "{name}" uses restricted volume type "{kind}"' for name, kind in refused
        )
        yield f"restricted volume types ({described})"


def _privilege_escalation(pod_spec: PodSpec) -> Iterator[str]:
    names = [
        c["name"]
        for c in _containers(pod_spec)
        if _context(c).get("allowPrivilegeEscalation") is not False
    ]
    if names:
        yield (
            f"allowPrivilegeEscalation != false ({_named('container', names)} must set "
            "securityContext.allowPrivilegeEscalation=false)"
        )


def _capabilities(pod_spec: PodSpec) -> Iterator[str]:
    not_dropped, added = [], []
    for container in _containers(pod_spec):
        capabilities = _context(container).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            not_dropped.append(container["name"])
        extra = [cap for cap in capabilities.get("add") or [] if cap not in _ADDABLE_CAPABILITIES]
        if extra:
            added.append((container["name"], extra))
    details = []
    if not_dropped:
        details.append(
            f'{_named("container", not_dropped)} must set securityContext.capabilities.drop=["ALL"]'
        )
    for name, extra in added:
        listed = ", ".join(f'"{cap}"' for cap in extra)
        details.append(
            f'container "{name}" must not include {listed} in securityContext.capabilities.add'
        )
    if details:
        yield f"unrestricted capabilities ({'; '.join(details)})"


def _run_as_non_root(pod_spec: PodSpec) -> Iterator[str]:
    pod_says = _pod_context(pod_spec).get("runAsNonRoot")
    unset = []
    for container in _containers(pod_spec):
        says = _context(container).get("runAsNonRoot", pod_says)
        if says is not True:
            unset.append(container["name"])
    if unset:
        yield (
            f"runAsNonRoot != true (pod or {_named('container', unset)} must set "
            "securityContext.runAsNonRoot=true)"
        )


def _run_as_user(pod_spec: PodSpec) -> Iterator[str]:
    offenders = ["pod"] if _pod_context(pod_spec).get("runAsUser") == 0 else []
    names = [c["name"] for c in _containers(pod_spec) if _context(c).get("runAsUser") == 0]
    if names:
        offenders.append(_named("container", names))
    if offenders:
        yield f"runAsUser=0 ({' and '.join(offenders)} must not set runAsUser=0)"


def _seccomp(pod_spec: PodSpec) -> Iterator[str]:
    pod_type = (_pod_context(pod_spec).get("seccompProfile") or {}).get("type")
    unset = []
    for container in _containers(pod_spec):
        own = (_context(container).get("seccompProfile") or {}).get("type")
        if (own or pod_type) not in _SECCOMP_ALLOWED:
            unset.append(container["name"])
    if unset:
        yield (
            f"seccompProfile (pod or {_named('container', unset)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
        )


# Baseline first, then what restricted adds: the order admission reports them in.
_CHECKS: tuple[_Check, ...] = (
    _host_namespaces,
    _privileged,
    _host_ports,
    _volume_types,
    _privilege_escalation,
    _capabilities,
    _run_as_non_root,
    _run_as_user,
    _seccomp,
)


def deployment_pod_spec(deployment: dict[str, Any]) -> PodSpec:
    """The pod template's spec of a Deployment (empty when it has none)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    return dict(template.get("spec") or {})


def replica_set_pod_name(deployment: dict[str, Any]) -> str:
    """The name prefix the ReplicaSet controller gives the pods it tries to create."""
    name = (deployment.get("metadata") or {}).get("name", "")
    return f"{name}-{_template_hash(deployment)}-"


def _template_hash(deployment: dict[str, Any]) -> str:
    # Stable per template, as the pod-template-hash is; its exact value does not matter here.
    template = (deployment.get("spec") or {}).get("template") or {}
    return format(zlib.crc32(json.dumps(template, sort_keys=True).encode()), "x")
