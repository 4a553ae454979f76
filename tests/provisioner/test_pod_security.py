"""The restricted profile checker: what admission refuses, in its words; what we render passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from provisioner.manifests import desired_objects
from provisioner.pod_security import (
    deployment_pod_spec,
    forbidden_message,
    replica_set_pod_name,
    violations,
    warning,
)
from tests.support.gateways import make_gateway


def rendered_pod() -> dict[str, Any]:
    (deployment,) = [
        m
        for m in desired_objects(
            make_gateway("edge"), namespace="gateways", start_timeout_seconds=60
        )
        if m["kind"] == "Deployment"
    ]
    return deployment_pod_spec(deployment)


def container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["containers"][0]  # type: ignore[no-any-return]


def test_the_pod_the_provisioner_renders_passes_restricted() -> None:
    assert violations(rendered_pod()) == []


# Each row: how a pod is weakened, and the words of the admission's refusal.
WEAKENED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no security context at all": (
        lambda pod: [pod.pop("securityContext"), container(pod).pop("securityContext")],
        'allowPrivilegeEscalation != false (container "gateway" must set '
        "securityContext.allowPrivilegeEscalation=false)",
    ),
    "privilege escalation allowed": (
        lambda pod: container(pod)["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation != false",
    ),
    "capabilities kept": (
        lambda pod: container(pod)["securityContext"].pop("capabilities"),
        'unrestricted capabilities (container "gateway" must set '
        'securityContext.capabilities.drop=["ALL"])',
    ),
    "NET_RAW added back": (
        lambda pod: container(pod)["securityContext"]["capabilities"].update(add=["NET_RAW"]),
        'container "gateway" must not include "NET_RAW" in securityContext.capabilities.add',
    ),
    "may run as root": (
        lambda pod: [
            pod["securityContext"].pop("runAsNonRoot"),
            container(pod)["securityContext"].pop("runAsNonRoot"),
        ],
        'runAsNonRoot != true (pod or container "gateway" must set '
        "securityContext.runAsNonRoot=true)",
    ),
    "user 0": (
        lambda pod: pod["securityContext"].update(runAsUser=0),
        "runAsUser=0 (pod must not set runAsUser=0)",
    ),
    "no seccomp profile": (
        lambda pod: pod["securityContext"].pop("seccompProfile"),
        'seccompProfile (pod or container "gateway" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")',
    ),
    "seccomp unconfined in the container": (
        lambda pod: container(pod)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile (pod or container",
    ),
    "privileged": (
        lambda pod: container(pod)["securityContext"].update(privileged=True),
        'privileged (container "gateway" must not set securityContext.privileged=true)',
    ),
    "host network": (
        lambda pod: pod.update(hostNetwork=True),
        "host namespaces (hostNetwork=true)",
    ),
    "a host port": (
        lambda pod: container(pod)["ports"][0].update(hostPort=8080),
        'hostPort (container "gateway" uses hostPort 8080)',
    ),
    "a hostPath volume": (
        lambda pod: pod["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        'restricted volume types (volume "root" uses restricted volume type "hostPath")',
    ),
}


@pytest.mark.parametrize(("weaken", "words"), WEAKENED.values(), ids=WEAKENED.keys())
def test_a_weakened_pod_is_refused_in_the_admissions_words(
    weaken: Callable[[dict[str, Any]], None], words: str
) -> None:
    pod = copy.deepcopy(rendered_pod())
    weaken(pod)

    problems = violations(pod)

    assert any(words in problem for problem in problems), problems


def test_the_refusal_and_the_warning_read_as_the_api_servers() -> None:
    pod = rendered_pod()
    pod.pop("securityContext")
    container(pod).pop("securityContext")
    problems = violations(pod)

    message = forbidden_message("edge-gateway-5f8c7d9b4-", problems)

    assert message.startswith(
        'pods "edge-gateway-5f8c7d9b4-" is forbidden: violates PodSecurity "restricted:latest": '
        "allowPrivilegeEscalation != false"
    )
    assert [p.split(" (")[0] for p in problems] == [
        "allowPrivilegeEscalation != false",
        "unrestricted capabilities",
        "runAsNonRoot != true",
        "seccompProfile",
    ]
    assert warning(problems).startswith('would violate PodSecurity "restricted:latest": ')


def test_several_containers_are_named_together() -> None:
    pod = {"containers": [{"name": "a"}, {"name": "b"}]}

    assert (
        'allowPrivilegeEscalation != false (containers "a", "b" must set '
        "securityContext.allowPrivilegeEscalation=false)"
    ) in violations(pod)


def test_the_pod_name_prefix_follows_the_template() -> None:
    deployment = {"metadata": {"name": "edge-gateway"}, "spec": {"template": {"a": 1}}}
    changed = {"metadata": {"name": "edge-gateway"}, "spec": {"template": {"a": 2}}}

    assert replica_set_pod_name(deployment).startswith("edge-gateway-")
    assert replica_set_pod_name(deployment).endswith("-")
    assert replica_set_pod_name(deployment) == replica_set_pod_name(copy.deepcopy(deployment))
    assert replica_set_pod_name(deployment) != replica_set_pod_name(changed)
