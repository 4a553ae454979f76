"""The platform's workload settings: defaults a restricted cluster admits, a clear error naming
the variable for every bad value, and the policy the manifests are rendered with."""

from __future__ import annotations

import pytest

from outbox.domain.errors import InvalidInput
from outbox.runtime.settings import load
from provisioner.manifests import WorkloadPolicy
from provisioner.settings import ProvisionerSettings


def settings(monkeypatch: pytest.MonkeyPatch, **variables: str) -> ProvisionerSettings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load(ProvisionerSettings)


def test_the_defaults_are_a_non_root_user_open_egress_and_the_nginx_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings(monkeypatch).workload_policy == WorkloadPolicy(
        run_as_user=10001,
        run_as_group=10001,
        ingress_namespace="ingress-nginx",
        ingress_class="nginx",
        client_label=("gateway-outbox.io/client", "true"),
        egress="open",
        tls_issuer=None,
    )


def test_every_setting_reaches_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = settings(
        monkeypatch,
        OUTBOX_POD_UID="20000",
        OUTBOX_POD_GID="20001",
        OUTBOX_INGRESS_NAMESPACE="traefik",
        OUTBOX_INGRESS_CLASS="internal",
        OUTBOX_GATEWAY_CLIENT_LABEL="",
        OUTBOX_GATEWAY_EGRESS="closed",
        OUTBOX_TLS_ISSUER="letsencrypt",
        OUTBOX_TLS_ISSUER_KIND="Issuer",
    ).workload_policy

    assert policy == WorkloadPolicy(
        run_as_user=20000,
        run_as_group=20001,
        ingress_namespace="traefik",
        ingress_class="internal",
        client_label=None,
        egress="closed",
        tls_issuer="letsencrypt",
        tls_issuer_kind="Issuer",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OUTBOX_POD_UID", "0"),
        ("OUTBOX_POD_UID", "1000"),
        ("OUTBOX_POD_GID", "10000"),
        ("OUTBOX_GATEWAY_CLIENT_LABEL", "no label"),
        ("OUTBOX_GATEWAY_CLIENT_LABEL", "key-only"),
        ("OUTBOX_GATEWAY_EGRESS", "half-open"),
        ("OUTBOX_TLS_ISSUER_KIND", "Vault"),
        ("OUTBOX_INGRESS_CLASS", ""),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^invalid configuration: {variable}: "):
        settings(monkeypatch, **{variable: value})
