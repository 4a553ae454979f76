"""The cluster port over the Kubernetes API, with the official client.

Server-side apply through the typed APIs (one field manager, force), objects in their JSON form,
lists and watches of our labelled objects (`kubernetes.watch.Watch`, on an `ApiClient` of their
own), and every library error translated into `TemporaryClusterError`, `ResourceExpired` or
`PermanentClusterError`: no `ApiException` or urllib3 error leaves this module.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from provisioner.cluster.port import (
    API_VERSIONS,
    FIELD_MANAGER,
    KINDS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    ClusterConfigError,
    Listing,
    Manifest,
    ResourceExpired,
    TemporaryClusterError,
    WatchEvent,
    error_for_status,
)

log = logging.getLogger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"
# Foreground: the Deployment stays (with a deletionTimestamp) until its ReplicaSets and pods are
# gone, so "all objects gone" (Stopping -> Stopped, Deleting -> Deleted) means no pod of the
# gateway still runs; with Background the object vanishes while its pods still serve.
PROPAGATION_POLICY = "Foreground"
# The reconciler retries with back-off, so the transport retries only what cannot have reached
# the server (connecting); a read that timed out is reported at once instead of multiplied.
TRANSPORT_RETRIES = urllib3.util.Retry(
    total=2, connect=2, read=0, status=0, other=0, redirect=0, raise_on_status=False
)

# Connections kept beside one per worker, for watches and the sweeper's calls: a smaller pool
# makes urllib3 discard connections ("Connection pool is full") and open new ones under load.
SPARE_CONNECTIONS = 4
DEFAULT_WORKERS = 32
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
# A watch's read may be silent for its whole server timeout (no change, no bookmark); only
# silence beyond that, plus this margin, means the connection is dead.
WATCH_READ_MARGIN = 15.0


def tune(configuration: client.Configuration, *, workers: int = 1) -> client.Configuration:
    """Our transport policy on a client configuration (see TRANSPORT_RETRIES), with a
    connection pool for `workers` concurrent calls."""
    configuration.retries = TRANSPORT_RETRIES
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize, workers + SPARE_CONNECTIONS
    )
    return configuration


class KubernetesCluster:
    """The gateway objects of one namespace, through an `ApiClient`."""

    def __init__(
        self,
        namespace: str,
        api_client: client.ApiClient | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        workers: int = DEFAULT_WORKERS,
        watch_client: client.ApiClient | None = None,
    ) -> None:
        self._namespace = namespace
        self._client = api_client if api_client is not None else _api_client(None, None, workers)
        # Watches hold a connection each for minutes: on a pool of their own they never take
        # one the workers need.
        self._watch_client = watch_client or client.ApiClient(self._client.configuration)
        self._timeout = (connect_timeout, read_timeout)
        self._api = _operations(self._client)
        self._list = {kind: ops["list"] for kind, ops in _operations(self._watch_client).items()}

    @classmethod
    def from_config(
        cls,
        namespace: str,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        workers: int = DEFAULT_WORKERS,
    ) -> KubernetesCluster:
        """From a kubeconfig (the path given, else $KUBECONFIG), else the in-cluster service
        account when running in a pod, else ~/.kube/config; pooled for `workers` threads."""
        return cls(
            namespace,
            _api_client(kubeconfig, context, workers),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    @property
    def namespace(self) -> str:
        return self._namespace

    def get(self, kind: str, name: str) -> Manifest | None:
        return self._send("get", kind, name, missing_ok=True)

    def apply(self, manifest: Manifest) -> Manifest:
        kind = manifest.get("kind", "")
        name = (manifest.get("metadata") or {}).get("name", "")
        body = {key: value for key, value in manifest.items() if key != "status"}
        live = self._send(
            "apply",
            kind,
            name,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            # Strict: a field the server does not know fails the apply instead of being dropped
            # silently, which would otherwise look like drift forever.
            field_validation="Strict",
            _content_type=APPLY_PATCH,
        )
        assert live is not None  # only get and delete may find nothing
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            # Applying onto an object that is being deleted changes it, but it still goes away:
            # report it so the step is retried once the deletion has finished.
            raise TemporaryClusterError(
                f"apply {kind} {self._namespace}/{name}: the object is being deleted; "
                "apply again once it is gone",
                status=409,
            )
        return live

    def delete(self, kind: str, name: str, *, uid: str | None = None) -> None:
        options = client.V1DeleteOptions(
            propagation_policy=PROPAGATION_POLICY,
            preconditions=client.V1Preconditions(uid=uid) if uid is not None else None,
        )
        self._send(
            "delete",
            kind,
            name,
            missing_ok=True,
            propagation_policy=PROPAGATION_POLICY,
            body=options,
        )

    def list(self, kind: str) -> Listing:
        document = self._send("list", kind, None, label_selector=SELECTOR)
        assert document is not None
        items = []
        for item in document.get("items") or []:
            # Items of a list carry no kind or apiVersion of their own; the cache wants both.
            items.append({"apiVersion": API_VERSIONS[kind], "kind": kind, **item})
        version = str((document.get("metadata") or {}).get("resourceVersion", ""))
        return Listing(items, version)

    def watch(
        self, kind: str, resource_version: str, *, timeout_seconds: float
    ) -> Iterator[WatchEvent]:
        what = f"watch {kind} {self._namespace} from {resource_version}"
        stream = _RawWatch().stream(  # type: ignore[no-untyped-call]
            self._list[kind],
            self._namespace,
            label_selector=SELECTOR,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, int(timeout_seconds)),
            _request_timeout=(self._timeout[0], timeout_seconds + WATCH_READ_MARGIN),
        )
        try:
            for event in stream:
                if isinstance(event, dict):
                    yield WatchEvent(str(event["type"]), kind, event["raw_object"])
        except ApiException as error:
            if error.status == 410:
                raise ResourceExpired(f"{what}: 410 {error.reason}", status=410) from error
            raise error_for_status(error.status or 0, f"{what}: {error.status}") from error
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            # A dropped connection ends a chunked answer mid-way: resume from the last version.
            raise TemporaryClusterError(f"{what}: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]
        self._watch_client.close()  # type: ignore[no-untyped-call]

    def _send(
        self,
        operation: str,
        kind: str,
        name: str | None,
        *args: Any,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> Manifest | None:
        """One API call, the answer as JSON (None for a 404 when `missing_ok`), errors typed."""
        if kind not in KINDS:
            raise ValueError(
                f"unsupported kind {kind!r}: the cluster port handles {', '.join(KINDS)}"
            )
        what = f"{operation} {kind} {self._namespace}/{name or ''}"
        method = self._api[kind][operation]
        target = (self._namespace,) if name is None else (name, self._namespace)
        try:
            # Unparsed JSON rather than the typed models: the decisions work on the API's own
            # form, and no field the models do not know is lost on the way.
            response = method(
                *target,
                *args,
                _preload_content=False,
                _request_timeout=self._timeout,
                **kwargs,
            )
        except ApiException as error:
            if error.status == 404 and missing_ok:
                return None
            message = f"{what}: {error.status} {_api_message(error)}"
            raise error_for_status(error.status or 0, message) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # Timeouts, refused or reset connections, TLS failures: the server may be back soon.
            cause = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
            raise TemporaryClusterError(f"{what}: {type(cause).__name__}: {cause}") from error
        _log_warnings(what, response.headers.getlist("Warning"))
        document: Manifest = json.loads(response.data) if response.data else {}
        return document


class _RawWatch(watch.Watch):
    """Events as the JSON sent, with `raw_object` (which ERROR events are recognised by), but
    without the typed model the client would otherwise build from each one and we never use:
    it costs CPU on the watch thread for every event, and knows only the fields of its own
    version."""

    def get_return_type(self, func: Callable[..., Any]) -> None:
        return None


def _operations(api_client: client.ApiClient) -> dict[str, dict[str, Callable[..., Any]]]:
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    networking = client.NetworkingV1Api(api_client)
    return {
        "Deployment": {
            "get": apps.read_namespaced_deployment,
            "apply": apps.patch_namespaced_deployment,
            "delete": apps.delete_namespaced_deployment,
            "list": apps.list_namespaced_deployment,
        },
        "Service": {
            "get": core.read_namespaced_service,
            "apply": core.patch_namespaced_service,
            "delete": core.delete_namespaced_service,
            "list": core.list_namespaced_service,
        },
        "NetworkPolicy": {
            "get": networking.read_namespaced_network_policy,
            "apply": networking.patch_namespaced_network_policy,
            "delete": networking.delete_namespaced_network_policy,
            "list": networking.list_namespaced_network_policy,
        },
        "Ingress": {
            "get": networking.read_namespaced_ingress,
            "apply": networking.patch_namespaced_ingress,
            "delete": networking.delete_namespaced_ingress,
            "list": networking.list_namespaced_ingress,
        },
    }


def _api_client(kubeconfig: str | None, context: str | None, workers: int) -> client.ApiClient:
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    try:
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            # persist_config=False: never write refreshed tokens back into the user's file.
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError) as error:
        where = path or "~/.kube/config (and not running in a pod)"
        raise ClusterConfigError(
            f"no usable Kubernetes configuration in {where}: {error}"
        ) from error
    return client.ApiClient(tune(configuration, workers=workers))


def _log_warnings(what: str, warnings: list[str]) -> None:
    # Admission says what it would refuse (a pod that fails Pod Security, a deprecated API) on
    # writes it still accepts: the operator should hear it from us.
    for warning in warnings:
        log.warning("%s: the API server warns: %s", what, warning)


def _api_message(error: ApiException) -> str:
    """The API's own explanation (a Status object's message), else the HTTP reason."""
    try:
        status = json.loads(error.body or "")
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(error.reason or "no message")
