"""The API server emulator as a process of its own, shared by provisioner processes.

`EmulatorProcess` starts `python -m tests.support.k8s_emulator 0 --kubeconfig PATH`, learns its
port from the first line it prints, and drives it over its admin endpoints.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# Straight to 127.0.0.1, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorProcess:
    def __init__(
        self, directory: Path, *, complete_rollouts: bool = True, rollout_seconds: float = 0.0
    ) -> None:
        self.kubeconfig = directory / "emulator.kubeconfig"
        self._complete_rollouts = complete_rollouts
        self._rollout_seconds = rollout_seconds
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, timeout: float = 15.0) -> EmulatorProcess:
        command = [sys.executable, "-m", "tests.support.k8s_emulator", "0"]
        command += ["--kubeconfig", str(self.kubeconfig)]
        if self._complete_rollouts:
            command += ["--complete-rollouts", "--rollout-seconds", str(self._rollout_seconds)]
        self._process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.port = int(self._first_line(timeout).removeprefix("port "))
        return self

    def _first_line(self, timeout: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line.startswith("port "):
            self.close()
            raise RuntimeError(f"the API server emulator did not start: {line!r}")
        self._process.stdout.readline()  # "kubeconfig PATH": written before it is printed
        return line.strip()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- admin endpoints ------------------------------------------------------------------------

    def reset(self) -> None:
        """No objects, no request log, no faults, nothing held: as good as a new process."""
        self._call("POST", "reset")

    def hold_applies(self, *, after: int = 0) -> None:
        """After `after` more applies, hold every apply open until `release()`."""
        self._call("POST", "hold-applies", {"after": after})

    def release(self) -> None:
        self._call("POST", "release")

    def held(self) -> int:
        return int(self._call("GET", "held")["held"])

    def wait_until_held(self, timeout: float = 20.0) -> None:
        wait_until(lambda: self.held() > 0, "an apply held", timeout=timeout, interval=0.02)

    def respond_next(
        self, status: int, *, method: str | None = None, kind: str | None = None, times: int = 1
    ) -> None:
        """The next matching Kubernetes requests get this HTTP status and change nothing."""
        options = {"status": status, "method": method, "kind": kind, "times": times}
        self._call("POST", "respond-next", options)

    def expire_history(self) -> None:
        """Watches resuming from any version so far get 410 Gone."""
        self._call("POST", "expire-history")

    def drop_watches(self) -> None:
        """Every open watch has its connection reset."""
        self._call("POST", "drop-watches")

    def remove(self, kind: str, name: str, namespace: str = "gateways") -> None:
        """Delete an object behind the provisioner's back (drift)."""
        self._call("POST", "remove", {"kind": kind, "name": name, "namespace": namespace})

    def put(self, objects: list[dict[str, Any]]) -> None:
        """Store objects as they are (seeding the cluster without the provisioner)."""
        self._call("POST", "put", {"objects": objects})

    def requests(self) -> list[dict[str, Any]]:
        """Every Kubernetes request the emulator has had, in order."""
        return list(self._call("GET", "requests")["requests"])

    def rollouts_completed(self) -> dict[str, float]:
        """When each Deployment's last rollout completed (wall clock), by name."""
        return dict(self._call("GET", "rollouts")["completed"])

    def objects(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "objects")["objects"])

    def _call(self, method: str, endpoint: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_admin/{endpoint}", data, method=method)
        with _DIRECT.open(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    # -- end --------------------------------------------------------------------------------

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process.communicate()
        self._process = None
