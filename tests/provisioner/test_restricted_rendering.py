"""Every spec the model accepts, under every platform policy, renders objects a restricted
multi-tenant cluster admits: pods that pass Pod Security "restricted" (our checker) and
manifests valid against the Kubernetes schemas (kubernetes-validate, strict)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.manifests import WorkloadPolicy, desired_objects, tls_secret_name
from provisioner.pod_security import deployment_pod_spec, violations
from tests.outbox.test_validation_properties import names, specs
from tests.support.gateways import make_gateway

SCHEMA_VERSION = kubernetes_validate.utils.latest_version()

policies = st.builds(
    WorkloadPolicy,
    run_as_user=st.integers(10001, 2**31 - 1),
    run_as_group=st.integers(10001, 2**31 - 1),
    ingress_namespace=st.sampled_from(["ingress-nginx", "traefik", "kube-system"]),
    ingress_class=st.sampled_from(["nginx", "traefik", "internal"]),
    client_label=st.sampled_from([None, ("gateway-outbox.io/client", "true"), ("team", "")]),
    egress=st.sampled_from(["open", "closed"]),
    tls_issuer=st.sampled_from([None, "letsencrypt-prod"]),
    tls_issuer_kind=st.sampled_from(["ClusterIssuer", "Issuer"]),
)


def rendered(name: str, spec: dict[str, Any], policy: WorkloadPolicy) -> list[dict[str, Any]]:
    gateway = make_gateway(name, restart_stamp=3, **spec)
    return desired_objects(gateway, namespace="gateways", start_timeout_seconds=300, policy=policy)


@settings(max_examples=60, deadline=None, database=None)
@given(name=names, spec=specs, policy=policies)
def test_every_accepted_spec_renders_objects_a_restricted_cluster_admits(
    name: str, spec: dict[str, Any], policy: WorkloadPolicy
) -> None:
    objects = rendered(name, spec, policy)

    (deployment,) = [m for m in objects if m["kind"] == "Deployment"]
    assert violations(deployment_pod_spec(deployment)) == []
    pod = deployment_pod_spec(deployment)
    assert pod["securityContext"]["runAsUser"] == policy.run_as_user
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    for manifest in objects:
        kubernetes_validate.validate(manifest, SCHEMA_VERSION, strict=True)
    kinds = [m["kind"] for m in objects]
    assert "NetworkPolicy" in kinds
    assert ("Ingress" in kinds) == (spec.get("host") is not None)


@settings(max_examples=30, deadline=None, database=None)
@given(name=names, host=st.just("edge.example.com"), policy=policies)
def test_an_ingress_serves_tls_for_its_host_in_its_class(
    name: str, host: str, policy: WorkloadPolicy
) -> None:
    (ingress,) = [
        m for m in rendered(name, {"image": "a:1", "host": host}, policy) if m["kind"] == "Ingress"
    ]

    assert ingress["spec"]["ingressClassName"] == policy.ingress_class
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": tls_secret_name(name)}]
    annotations = ingress["metadata"].get("annotations", {})
    if policy.tls_issuer is None:
        assert annotations == {}
    else:
        assert policy.tls_issuer in annotations.values()
