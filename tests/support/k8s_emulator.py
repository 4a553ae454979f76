"""A Kubernetes API server emulator over HTTP, for testing `KubernetesCluster` with the real client.

It serves GET, PATCH (server-side apply only, with apply-creates semantics: `kmock` answers 404
to an apply of a missing object, the real server creates it) and DELETE for namespaced
Deployments, Services and Ingresses, and lists and watches of them by label selector (chunked,
with bookmarks and the server timeout; `410 Gone` for a version it was told to forget, and
watches dropped on command). It records every request, injects faults per request (a status, a
connection reset, a slow answer, an apply held open) and lets tests drive Deployment status
(rollouts).

In a test's own process it is `ApiServerEmulator().start()`. Shared by provisioner processes it
runs as `python -m tests.support.k8s_emulator PORT --kubeconfig PATH` (see `main`), and tests
drive it through the admin endpoints under `/_admin/` (`ADMIN_ROUTES`; the client side is
`tests.support.emulator_process`). Kubernetes paths go through `_route`; new kinds of request
(watches, lists) are one more branch in `_Handler._serve`.
"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from kubernetes import client

from provisioner.cluster.kubernetes import APPLY_PATCH, tune
from provisioner.cluster.memory import check_manifest, merge_apply
from provisioner.cluster.port import (
    ADDED,
    BOOKMARK,
    DELETED,
    MODIFIED,
    ClusterError,
    Manifest,
    ResourceExpired,
)
from provisioner.cluster.watch_history import Change, WatchHistory, visible_as
from provisioner.pod_security import (
    deployment_pod_spec,
    forbidden_message,
    replica_set_pod_name,
    violations,
)
from provisioner.pod_security import (
    warning as admission_warning,
)

BOOKMARK_SECONDS = 1.0  # an idle watch gets a bookmark this often

# Where each kind lives in the API: the path prefix before /namespaces/... and the resource.
ROUTES = {
    ("/api/v1", "services"): "Service",
    ("/apis/apps/v1", "deployments"): "Deployment",
    ("/apis/networking.k8s.io/v1", "ingresses"): "Ingress",
    ("/apis/networking.k8s.io/v1", "networkpolicies"): "NetworkPolicy",
}
_REASONS = {
    400: "BadRequest",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
_Answer = tuple[int, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    kind: str | None
    name: str | None
    content_type: str | None
    query: dict[str, str]
    body: Any
    at: float = field(default_factory=time.time)  # when it came (wall clock, for other processes)

    @property
    def field_manager(self) -> str | None:
        return self.query.get("fieldManager")

    @property
    def force(self) -> str | None:
        return self.query.get("force")


@dataclass
class Fault:
    """What the next matching request gets instead of (or before) its normal answer."""

    action: str  # "status", "reset" or "delay"
    method: str | None = None
    kind: str | None = None
    status: int = 500
    message: str = "injected fault"
    seconds: float = 0.0
    remaining: int = 1

    def matches(self, method: str, kind: str | None) -> bool:
        return self.remaining > 0 and self.method in (None, method) and self.kind in (None, kind)


@dataclass
class _Stored:
    live: Manifest
    applied: dict[str, Manifest] = field(default_factory=dict)  # field manager -> last config


class ApiServerEmulator:
    def __init__(
        self,
        *,
        auto_complete_rollouts: bool = False,
        rollout_seconds: float = 0.0,
        pod_security: bool = True,
    ) -> None:
        self.auto_complete_rollouts = auto_complete_rollouts
        # Every namespace enforces Pod Security "restricted": a Deployment whose pods fail it is
        # stored with a Warning header, and its ReplicaSet never creates a pod.
        self.pod_security = pod_security
        # With auto-completion: a written Deployment reports its rollout complete this much later.
        self.rollout_seconds = rollout_seconds
        self.rollouts_completed: dict[str, float] = {}  # Deployment name -> when (wall clock)
        # Foreground deletes keep the object (deletionTimestamp set) until `finish_deletes()`,
        # the way the garbage collector keeps a Deployment until its pods are gone.
        self.linger_deletes = False
        self.requests: list[RecordedRequest] = []
        self._objects: dict[tuple[str, str, str], _Stored] = {}  # (namespace, kind, name)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._hold: _Hold | None = None  # applies are being held open
        self._held = 0
        self._resource_version = 0
        self._history = WatchHistory()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, port: int = 0) -> ApiServerEmulator:
        """Serve on 127.0.0.1:`port` (0: a free one) from a background thread."""
        emulator = self

        class Handler(_Handler):
            server_emulator = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases slow answers at once
        self.release()  # and held applies
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the emulator first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, namespace: str = "gateways") -> Path:
        """A kubeconfig whose current context is this emulator, for the client of another
        process (`KUBECONFIG`)."""
        path.write_text(yaml.safe_dump(kubeconfig(self.url, namespace)))
        return path

    def api_client(self) -> client.ApiClient:
        """A client of the official library pointed at this emulator, with our transport policy."""
        configuration = client.Configuration(host=self.url, no_proxy="127.0.0.1,localhost")
        return client.ApiClient(tune(configuration))

    # -- test controls -----------------------------------------------------------------------

    def respond_next(
        self,
        status: int,
        *,
        method: str | None = None,
        kind: str | None = None,
        message: str = "injected fault",
        times: int = 1,
    ) -> None:
        """The next matching requests get this HTTP status (a Status body) and change nothing."""
        self._add(Fault("status", method, kind, status=status, message=message, remaining=times))

    def reset_next(self, *, method: str | None = None, kind: str | None = None) -> None:
        """The next matching request has its connection reset before any answer."""
        self._add(Fault("reset", method, kind))

    def delay_next(
        self, seconds: float, *, method: str | None = None, kind: str | None = None
    ) -> None:
        """The next matching request is answered normally, but only after `seconds`."""
        self._add(Fault("delay", method, kind, seconds=seconds))

    def reset(self) -> None:
        """Back to empty: no objects, no request log, no faults; held applies go ahead."""
        self.release()
        self._history.drop()
        with self._lock:
            self._objects.clear()
            self.requests.clear()
            self.rollouts_completed.clear()
            self._faults.clear()
            self._history = WatchHistory()

    def hold_applies(self, *, after: int = 0) -> None:
        """Let `after` more applies through, then hold every apply (PATCH) open: recorded, but
        neither carried out nor answered until `release()`. A client process can be killed
        while it waits for one, at a point where it has nothing else in hand."""
        with self._lock:
            self._hold = _Hold(let_through=after)

    def release(self) -> None:
        """Held applies go ahead (carried out and answered); new ones are no longer held."""
        with self._lock:
            self._hold = None
            self._released.notify_all()

    @property
    def held(self) -> int:
        """Applies held open right now."""
        with self._lock:
            return self._held

    def complete_rollout(self, name: str, namespace: str) -> None:
        """The Deployment's controller reports the current generation fully rolled out."""
        with self._lock:
            deployment = self._objects[(namespace, "Deployment", name)].live
            before = copy.deepcopy(deployment)
            deployment["status"] = _complete_status(deployment)
            self._changed(MODIFIED, deployment, before)
            self.rollouts_completed[name] = time.time()

    def fail_rollout(self, name: str, namespace: str) -> None:
        """The Deployment's controller gives up: ProgressDeadlineExceeded."""
        with self._lock:
            deployment = self._objects[(namespace, "Deployment", name)].live
            before = copy.deepcopy(deployment)
            deployment["status"] = {
                "observedGeneration": deployment["metadata"]["generation"],
                "replicas": 0,
                "updatedReplicas": 0,
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f'ReplicaSet "{name}" has timed out progressing.',
                    }
                ],
            }
            self._changed(MODIFIED, deployment, before)

    def put(self, manifest: Manifest) -> None:
        """Store an object as somebody else (no field manager of ours)."""
        metadata = manifest["metadata"]
        with self._lock:
            self._create(metadata["namespace"], manifest["kind"], metadata["name"], manifest)

    def remove(self, kind: str, name: str, namespace: str) -> None:
        """Delete behind the client's back (drift)."""
        with self._lock:
            stored = self._objects.pop((namespace, kind, name), None)
            if stored is not None:
                self._changed(DELETED, stored.live, stored.live)

    def expire_history(self) -> None:
        """Forget every change so far: a watch from an older version gets 410 Gone."""
        with self._lock:
            self._history.expire(self._resource_version)

    def drop_watches(self) -> None:
        """Every open watch has its connection reset."""
        self._history.drop()

    def finish_deletes(self) -> None:
        """Every lingering (foreground) deletion completes."""
        with self._lock:
            for key in [k for k, s in self._objects.items() if _terminating(s.live)]:
                gone = self._objects.pop(key)
                self._changed(DELETED, gone.live, gone.live)

    def stored(self, kind: str, name: str, namespace: str) -> Manifest | None:
        with self._lock:
            stored = self._objects.get((namespace, kind, name))
            return None if stored is None else copy.deepcopy(stored.live)

    def requests_for(self, method: str, kind: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and kind in (None, r.kind)]

    def request_log(self) -> list[RecordedRequest]:
        """Every Kubernetes request so far, in the order they came (admin requests are not)."""
        with self._lock:
            return list(self.requests)

    def completed_rollouts(self) -> dict[str, float]:
        """When each Deployment's last rollout completed (wall clock), by name."""
        with self._lock:
            return dict(self.rollouts_completed)

    def objects(self) -> list[Manifest]:
        """Every stored object, as the API would answer a GET of it."""
        with self._lock:
            return [copy.deepcopy(stored.live) for stored in self._objects.values()]

    # -- request handling (called by the handler threads) ------------------------------------

    def record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f.matches(request.method, request.kind)), None)
            if fault is not None:
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
            return fault

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def wait_if_held(self, request: RecordedRequest) -> None:
        """Block a held apply until `release()` (or until the emulator stops)."""
        with self._lock:
            hold = self._hold
            if request.method != "PATCH" or hold is None or hold.lets_through():
                return
            self._held += 1
            try:
                while self._hold is hold and not self._stopping.is_set():
                    self._released.wait(0.1)
            finally:
                self._held -= 1

    def handle(
        self, namespace: str, kind: str, name: str | None, request: RecordedRequest
    ) -> _Answer:
        with self._lock:
            if name is None:
                return (
                    self._list(namespace, kind, request)
                    if request.method == "GET"
                    else (_status(405, f"{request.method} of a collection is not emulated"))
                )
            if request.method == "GET":
                stored = self._objects.get((namespace, kind, name))
                return _not_found(kind, name) if stored is None else (200, stored.live)
            if request.method == "PATCH":
                return self._apply(namespace, kind, name, request)
            return self._delete(namespace, kind, name, request)

    def _apply(self, namespace: str, kind: str, name: str, request: RecordedRequest) -> _Answer:
        refused = _refuse_apply(namespace, kind, name, request)
        if refused is not None:
            return refused
        manager = request.query["fieldManager"]
        applied = {key: value for key, value in request.body.items() if key != "status"}
        stored = self._objects.get((namespace, kind, name))
        if stored is None:
            stored = self._create(namespace, kind, name, applied)
            stored.applied[manager] = applied
            return 201, stored.live
        if kind == "Deployment" and _selector_changed(stored.live, applied):
            return _status(
                422,
                f'Deployment.apps "{name}" is invalid: spec.selector: Invalid value: '
                "field is immutable",
            )
        before = stored.live
        stored.live = merge_apply(before, stored.applied.get(manager), applied)
        stored.applied[manager] = applied
        if stored.live.get("spec") != before.get("spec"):
            stored.live["metadata"]["generation"] = before["metadata"]["generation"] + 1
        self._after_write(stored.live)
        if stored.live != before:
            self._changed(MODIFIED, stored.live, before)
        return 200, stored.live

    def _delete(self, namespace: str, kind: str, name: str, request: RecordedRequest) -> _Answer:
        stored = self._objects.get((namespace, kind, name))
        if stored is None:
            return _not_found(kind, name)
        policy = request.query.get("propagationPolicy") or (request.body or {}).get(
            "propagationPolicy"
        )
        wanted_uid = ((request.body or {}).get("preconditions") or {}).get("uid")
        live_uid = stored.live["metadata"]["uid"]
        before = copy.deepcopy(stored.live)
        if wanted_uid is not None and wanted_uid != live_uid:
            message = (
                f"Precondition failed: UID in precondition: {wanted_uid}, "
                f"UID in object meta: {live_uid}"
            )
            return _status(409, message)
        if self.linger_deletes and policy == "Foreground":
            metadata = stored.live["metadata"]
            metadata.setdefault("deletionTimestamp", _now())
            metadata["finalizers"] = ["foregroundDeletion"]
            self._changed(MODIFIED, stored.live, before)
            return 200, stored.live
        del self._objects[(namespace, kind, name)]
        self._changed(DELETED, stored.live, before)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _create(self, namespace: str, kind: str, name: str, manifest: Manifest) -> _Stored:
        live = copy.deepcopy(manifest)
        live.pop("status", None)
        live["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            generation=1,
            resourceVersion=self._next_version(),
            creationTimestamp=_now(),
        )
        if kind == "Deployment":
            live["status"] = {}
        if kind == "Service":
            live.setdefault("spec", {}).setdefault("clusterIP", "10.96.0.10")  # server-populated
        stored = _Stored(live)
        self._objects[(namespace, kind, name)] = stored
        self._after_write(live)
        self._record(ADDED, live, None)
        return stored

    def _changed(self, change: str, live: Manifest, before: Manifest | None) -> None:
        """A change of a stored object (under the lock): a new version, and an event."""
        live["metadata"]["resourceVersion"] = self._next_version()
        self._record(change, live, before)

    def _record(self, change: str, live: Manifest, before: Manifest | None) -> None:
        metadata = live["metadata"]
        self._history.record(
            Change(
                int(metadata["resourceVersion"]),
                live["kind"],
                metadata["namespace"],
                change,
                copy.deepcopy(live),
                None if before is None else copy.deepcopy(before),
            )
        )

    def _list(self, namespace: str, kind: str, request: RecordedRequest) -> _Answer:
        selected = selector(request.query.get("labelSelector", ""))
        items = [
            {key: value for key, value in stored.live.items() if key not in ("kind", "apiVersion")}
            for (space, stored_kind, _), stored in sorted(self._objects.items())
            if (space, stored_kind) == (namespace, kind) and selected(stored.live)
        ]
        return 200, {
            "kind": f"{kind}List",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self._resource_version)},
            "items": items,
        }

    def watch(self, namespace: str, kind: str, request: RecordedRequest) -> Iterator[Any]:
        """The events of a watch request until its timeout (or the emulator stops); raises
        `_Dropped` when told to drop watches."""
        query = request.query
        selected = selector(query.get("labelSelector", ""))
        with self._lock:
            history = self._history
            after = int(query.get("resourceVersion") or self._resource_version)
        drops = history.drops
        bookmarks = query.get("allowWatchBookmarks", "").lower() == "true"
        ends = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        bookmarked = time.monotonic()
        while not self._stopping.is_set() and (remaining := ends - time.monotonic()) > 0:
            try:
                changes, dropped = history.wait(after, drops, min(0.2, remaining))
            except ResourceExpired as error:
                yield {"type": "ERROR", "object": _status(410, str(error))[1]}
                return
            if dropped:
                raise _Dropped()
            for change in changes:
                after = change.version
                seen = visible_as(change, selected) if change.kind == kind else None
                if seen is not None and change.namespace == namespace:
                    yield {"type": seen, "object": change.object}
            if bookmarks and time.monotonic() - bookmarked >= BOOKMARK_SECONDS:
                bookmarked = time.monotonic()
                yield {
                    "type": BOOKMARK,
                    "object": {"kind": kind, "metadata": {"resourceVersion": str(after)}},
                }

    def refusals(self, manifest: Manifest) -> list[str]:
        """Why Pod Security admission refuses the pods of this Deployment (none: it admits)."""
        if not self.pod_security or manifest.get("kind") != "Deployment":
            return []
        return violations(deployment_pod_spec(manifest))

    def _after_write(self, live: Manifest) -> None:
        if live["kind"] != "Deployment":
            return
        problems = self.refusals(live)
        if problems:
            live["status"] = _refused_status(live, problems)
            return
        if not self.auto_complete_rollouts:
            return
        if self.rollout_seconds <= 0:
            live["status"] = _complete_status(live)
            self.rollouts_completed[live["metadata"]["name"]] = time.time()
            return
        metadata = live["metadata"]
        rollout = threading.Timer(
            self.rollout_seconds,
            self._complete_later,
            (metadata["namespace"], metadata["name"], metadata["generation"]),
        )
        rollout.daemon = True
        rollout.start()

    def _complete_later(self, namespace: str, name: str, generation: int) -> None:
        """The rollout of that generation completes, unless the Deployment has gone or changed
        since (a newer write started a rollout of its own)."""
        with self._lock:
            stored = self._objects.get((namespace, "Deployment", name))
            if stored is None or stored.live["metadata"]["generation"] != generation:
                return
        self.complete_rollout(name, namespace)

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)


class _Dropped(Exception):
    """A watch whose connection is to be reset."""


def selector(text: str) -> Callable[[Manifest], bool]:
    """A label selector of `key=value` and `key` terms, comma-separated (all we send)."""
    terms = [term.split("=", 1) for term in text.split(",") if term]

    def selected(live: Manifest) -> bool:
        labels = (live.get("metadata") or {}).get("labels") or {}
        return all(
            term[0] in labels if len(term) == 1 else labels.get(term[0]) == term[1]
            for term in terms
        )

    return selected


@dataclass
class _Hold:
    let_through: int

    def lets_through(self) -> bool:
        if self.let_through > 0:
            self.let_through -= 1
            return True
        return False


def kubeconfig(server: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "emulator", "user": {"token": "emulator"}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
            }
        ],
        "current-context": "emulator",
    }


# -- admin endpoints: how a test drives an emulator that runs in another process ---------------


def _admin_hold_applies(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.hold_applies(after=int((body or {}).get("after", 0)))
    return 200, {"holding": True}


def _admin_release(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.release()
    return 200, {"holding": False}


def _admin_held(emulator: ApiServerEmulator, body: Any) -> _Answer:
    return 200, {"held": emulator.held}


def _admin_requests(emulator: ApiServerEmulator, body: Any) -> _Answer:
    return 200, {"requests": [asdict(request) for request in emulator.request_log()]}


def _admin_rollouts(emulator: ApiServerEmulator, body: Any) -> _Answer:
    return 200, {"completed": emulator.completed_rollouts()}


def _admin_objects(emulator: ApiServerEmulator, body: Any) -> _Answer:
    return 200, {"objects": emulator.objects()}


def _admin_respond_next(emulator: ApiServerEmulator, body: Any) -> _Answer:
    options = body or {}
    emulator.respond_next(
        int(options["status"]),
        method=options.get("method"),
        kind=options.get("kind"),
        message=options.get("message", "injected fault"),
        times=int(options.get("times", 1)),
    )
    return 200, {"armed": True}


def _admin_expire_history(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.expire_history()
    return 200, {"expired": True}


def _admin_drop_watches(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.drop_watches()
    return 200, {"dropped": True}


def _admin_remove(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.remove(body["kind"], body["name"], body["namespace"])
    return 200, {"removed": True}


def _admin_put(emulator: ApiServerEmulator, body: Any) -> _Answer:
    for manifest in body["objects"]:
        emulator.put(manifest)
    return 200, {"put": len(body["objects"])}


def _admin_reset(emulator: ApiServerEmulator, body: Any) -> _Answer:
    emulator.reset()
    return 200, {"reset": True}


ADMIN_ROUTES: dict[tuple[str, str], Callable[[ApiServerEmulator, Any], _Answer]] = {
    ("POST", "/_admin/reset"): _admin_reset,  # empty again, for the next test
    ("POST", "/_admin/hold-applies"): _admin_hold_applies,  # body: {"after": N} (optional)
    ("POST", "/_admin/release"): _admin_release,
    ("GET", "/_admin/held"): _admin_held,  # {"held": number of applies held open now}
    ("GET", "/_admin/requests"): _admin_requests,  # every Kubernetes request so far, in order
    ("GET", "/_admin/objects"): _admin_objects,
    ("GET", "/_admin/rollouts"): _admin_rollouts,  # {"completed": {Deployment name: when}}
    ("POST", "/_admin/respond-next"): _admin_respond_next,  # {"status", "method", "kind", ...}
    ("POST", "/_admin/expire-history"): _admin_expire_history,  # older versions: 410 Gone
    ("POST", "/_admin/drop-watches"): _admin_drop_watches,  # open watches are reset
    ("POST", "/_admin/remove"): _admin_remove,  # {"kind", "name", "namespace"}: drift
    ("POST", "/_admin/put"): _admin_put,  # {"objects": [...]}: stored as somebody else's
}
ADMIN_PREFIX = "/_admin/"


class _Handler(BaseHTTPRequestHandler):
    server_emulator: ApiServerEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would add
    # 40 ms to every answer.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `requests` instead

    def _serve(self, method: str) -> None:
        emulator = self.server_emulator
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith(ADMIN_PREFIX):
            self._serve_admin(method, url.path, raw)
            return
        route = _route(url.path)
        request = RecordedRequest(
            method=method,
            path=url.path,
            kind=route[1] if route else None,
            name=route[2] if route else None,
            content_type=self.headers.get("Content-Type"),
            query=dict(parse_qsl(url.query)),
            body=yaml.safe_load(raw) if raw else None,
        )
        fault = emulator.record(request)
        if fault is not None and fault.action == "reset":
            self._reset()
            return
        if fault is not None and fault.action == "delay":
            emulator.wait(fault.seconds)
        emulator.wait_if_held(request)
        if fault is not None and fault.action == "status":
            self._answer(*_status(fault.status, fault.message))
        elif route is None:
            self._answer(*_status(404, f"the emulator does not serve {url.path}"))
        elif route[2] is None and request.query.get("watch", "").lower() in ("true", "1"):
            self._stream(emulator.watch(route[0], route[1], request))
        else:
            problems = emulator.refusals(request.body or {}) if method == "PATCH" else []
            # As the API server does: the Deployment is stored, the admission's warning said.
            warnings = [_warning_header(admission_warning(problems))] if problems else []
            self._answer(*emulator.handle(*route, request), warnings=warnings)

    def _stream(self, events: Iterator[Any]) -> None:
        """A watch's answer: one JSON event per line, in chunks, until the watch ends."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except _Dropped:
            self._reset()
        except OSError:
            self.close_connection = True  # the client went away

    def _serve_admin(self, method: str, path: str, raw: bytes) -> None:
        admin = ADMIN_ROUTES.get((method, path))
        if admin is None:
            self._answer(*_status(404, f"no admin endpoint {method} {path}"))
        else:
            self._answer(*admin(self.server_emulator, json.loads(raw) if raw else None))

    def _answer(self, status: int, document: Any, *, warnings: Sequence[str] = ()) -> None:
        payload = json.dumps(document).encode()
        try:
            self.send_response(status)
            for warning in warnings:
                self.send_header("Warning", warning)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (a timeout test); nothing to say

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN: a reset connection.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


def _refuse_apply(namespace: str, kind: str, name: str, request: RecordedRequest) -> _Answer | None:
    """The API server's answer to an apply it will not carry out, or None."""
    if request.content_type != APPLY_PATCH:
        # The emulator only speaks server-side apply: anything else is a client bug here.
        return _status(415, f"only {APPLY_PATCH} is emulated, got {request.content_type}")
    if not request.query.get("fieldManager"):
        return _status(400, "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value")
    if not isinstance(request.body, dict):
        return _status(400, "the body of an apply must be an object")
    return _refuse_object(namespace, kind, name, request.body)


def _refuse_object(namespace: str, kind: str, name: str, body: Manifest) -> _Answer | None:
    try:
        body_kind, body_name = check_manifest(body, namespace)
    except ClusterError as error:
        return _status(error.status or 400, str(error))
    except ValueError as error:  # a kind this API path does not serve
        return _status(400, str(error))
    if (body_kind, body_name) != (kind, name):
        return _status(400, f"{body_kind}/{body_name} in the body, {kind}/{name} in the path")
    return None


def _route(path: str) -> tuple[str, str, str | None] | None:
    """(namespace, kind, name) of an object path, (namespace, kind, None) of a collection's,
    or None."""
    for (prefix, resource), kind in ROUTES.items():
        head = f"{prefix}/namespaces/"
        if path.startswith(head):
            parts = path[len(head) :].split("/")
            if len(parts) == 3 and parts[1] == resource and parts[0] and parts[2]:
                return parts[0], kind, parts[2]
            if len(parts) == 2 and parts[1] == resource and parts[0]:
                return parts[0], kind, None
    return None


def _status(code: int, message: str) -> _Answer:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown"),
        "code": code,
    }


def _not_found(kind: str, name: str) -> _Answer:
    return _status(404, f'{kind.lower()}s "{name}" not found')


def _complete_status(deployment: Manifest) -> dict[str, Any]:
    replicas = int(deployment.get("spec", {}).get("replicas", 1))
    return {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ],
    }


def _refused_status(deployment: Manifest, problems: list[str]) -> dict[str, Any]:
    """A Deployment whose ReplicaSet cannot create pods: no replica, and the admission's reason
    copied onto the Deployment as the deployment controller does."""
    message = forbidden_message(replica_set_pod_name(deployment), problems)
    return {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": 0,
        "updatedReplicas": 0,
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": message,
            },
        ],
    }


def _warning_header(text: str) -> str:
    """RFC 7234 warn-code 299, as the API server sends admission warnings."""
    return f"299 - {json.dumps(text)}"


def _selector_changed(live: Manifest, applied: Manifest) -> bool:
    old = live.get("spec", {}).get("selector")
    new = applied.get("spec", {}).get("selector")
    return old is not None and new is not None and old != new


def _terminating(live: Manifest) -> bool:
    return bool(live["metadata"].get("deletionTimestamp"))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- as a process -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT. Prints `port N` (and `kubeconfig PATH`) on stdout first,
    so that whoever started it knows where it listens once the line is there."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.k8s_emulator")
    parser.add_argument("port", type=int, help="port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument("--namespace", default="gateways", help="the kubeconfig's namespace")
    parser.add_argument(
        "--complete-rollouts",
        action="store_true",
        help="every Deployment reports its rollout complete as soon as it is applied",
    )
    parser.add_argument(
        "--rollout-seconds",
        type=float,
        default=0.0,
        help="with --complete-rollouts: complete each rollout this many seconds after the write",
    )
    options = parser.parse_args(argv)
    emulator = ApiServerEmulator(
        auto_complete_rollouts=options.complete_rollouts, rollout_seconds=options.rollout_seconds
    )
    emulator.start(options.port)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    print(f"port {emulator.port}", flush=True)
    if options.kubeconfig is not None:
        emulator.write_kubeconfig(options.kubeconfig, options.namespace)
        print(f"kubeconfig {options.kubeconfig}", flush=True)
    stopped.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
