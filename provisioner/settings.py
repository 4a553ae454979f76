"""The provisioner's settings: one frozen object built from `OUTBOX_*` variables."""

from __future__ import annotations

import os
import re
import socket
from typing import Literal

from pydantic import Field, field_validator, model_validator

from outbox.runtime.settings import CommonSettings
from outbox.stream import keys
from provisioner.manifests import WorkloadPolicy

# A label `key=value` as Kubernetes accepts it: an optional DNS prefix, a name, a value.
_LABEL = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    r"=([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
)


def default_consumer() -> str:
    """Host name and pid: two provisioners on one host (honcho -c provisioner=2) never share one
    consumer name, and so never one pending list."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ProvisionerSettings(CommonSettings):
    cluster: Literal["kubernetes", "memory"] = Field(
        "kubernetes", description="kubernetes (KUBECONFIG or in-cluster) or memory (demo, tests)"
    )
    workers: int = Field(32, ge=1, le=1024, description="gateways handled in parallel")
    consumer: str = Field(
        default_factory=default_consumer, min_length=1, description="consumer name in the group"
    )
    heartbeat_interval: float = Field(
        5.0,
        gt=0,
        description="seconds between heartbeats in MongoDB; a consumer silent for three of them "
        "counts as gone and its pending entries are taken over at once",
    )
    partition_lease_seconds: float = Field(
        15.0,
        gt=0,
        description="seconds a provisioner's partition lease lasts (partitioned stores): a "
        "dead replica's partitions move within it; keep it at least three heartbeats",
    )
    group: str = Field("provisioner", min_length=1, description="Redis consumer group")
    batch_size: int = Field(100, ge=1, le=10_000, description="stream entries read per call")
    max_deliveries: int = Field(
        5, ge=1, description="deliveries without an ack before an entry is dead-lettered"
    )
    reclaim_idle: float = Field(
        120.0, gt=0, description="seconds an entry stays pending before another consumer takes it"
    )
    handler_deadline: float = Field(
        60.0, gt=0, description="seconds one gateway's handling may take (below reclaim_idle)"
    )
    consumer_idle: float = Field(
        3600.0, gt=0, description="seconds before an idle consumer with nothing pending is removed"
    )
    sweep_interval: float = Field(
        5.0, gt=0, description="seconds between sweeps of unsettled gateways"
    )
    resync_interval: float = Field(
        600.0,
        gt=0,
        description="seconds between full resyncs of every Started gateway against the cluster "
        "(from the cache: no API request; with the cache off, three GETs per gateway)",
    )
    cluster_cache: Literal["on", "off"] = Field(
        "on",
        description="on: observe the cluster through a watch-fed cache; off: GET on every step "
        "(polling, for comparison and as an escape hatch)",
    )
    watch_timeout: float = Field(
        300.0, ge=1, description="seconds the API server keeps one watch open before we renew it"
    )
    backoff_base: float = Field(1.0, gt=0, description="first retry delay after a failure, seconds")
    backoff_cap: float = Field(300.0, gt=0, description="longest retry delay, seconds")
    dlq_maxlen: int = Field(
        100_000, ge=1, description="dead letters kept; older ones are trimmed (exact MAXLEN)"
    )
    max_entry_bytes: int = Field(
        1_048_576, ge=1024, description="larger stream entries are dead-lettered"
    )
    memory_rollout: float = Field(
        2.0, ge=0, description="rollout time of the memory cluster, seconds"
    )
    metrics_port: int = Field(9102, ge=0, le=65535, description="metrics and health port (0: none)")
    pod_uid: int = Field(
        10001,
        ge=10001,
        le=2**31 - 1,
        description="user id every gateway pod runs as (never root; 10001 or more, so it is "
        "no user of the node's)",
    )
    pod_gid: int = Field(
        10001, ge=10001, le=2**31 - 1, description="group id of every gateway pod (10001 or more)"
    )
    ingress_namespace: str = Field(
        "ingress-nginx",
        min_length=1,
        description="namespace of the ingress controller: the only other namespace whose pods "
        "may reach a gateway (NetworkPolicy)",
    )
    ingress_class: str = Field(
        "nginx", min_length=1, description="ingressClassName of every gateway's Ingress"
    )
    gateway_client_label: str = Field(
        "gateway-outbox.io/client=true",
        description="label (key=value) of the pods in the gateways' namespace that may reach "
        "them directly; empty: none, only the ingress controller",
    )
    gateway_egress: Literal["open", "closed"] = Field(
        "open", description="open: gateways may call anything; closed: only DNS"
    )
    tls_issuer: str = Field(
        "",
        description="cert-manager issuer that signs each host's certificate (annotation on the "
        "Ingress); empty: the TLS secret is provided some other way",
    )
    tls_issuer_kind: Literal["ClusterIssuer", "Issuer"] = Field(
        "ClusterIssuer", description="kind of OUTBOX_TLS_ISSUER"
    )

    @field_validator("gateway_client_label")
    @classmethod
    def _a_label(cls, value: str) -> str:
        if value and not _LABEL.match(value):
            raise ValueError("must be a label key=value, such as gateway-outbox.io/client=true")
        return value

    @property
    def workload_policy(self) -> WorkloadPolicy:
        key, _, value = self.gateway_client_label.partition("=")
        return WorkloadPolicy(
            run_as_user=self.pod_uid,
            run_as_group=self.pod_gid,
            ingress_namespace=self.ingress_namespace,
            ingress_class=self.ingress_class,
            client_label=(key, value) if self.gateway_client_label else None,
            egress=self.gateway_egress,
            tls_issuer=self.tls_issuer or None,
            tls_issuer_kind=self.tls_issuer_kind,
        )

    @model_validator(mode="after")
    def _reclaim_after_the_deadline(self) -> ProvisionerSettings:
        # An entry must not be taken from a consumer that is still within its time to handle it.
        if self.reclaim_idle <= self.handler_deadline:
            raise ValueError("OUTBOX_RECLAIM_IDLE must be longer than OUTBOX_HANDLER_DEADLINE")
        return self

    @property
    def dead_letter_stream(self) -> str:
        return keys.dead_letters_key(self.stream)
