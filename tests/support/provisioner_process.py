"""`outbox provisioner run` as a process of its own against the emulator process, read from
outside as an operator would: its `/readyz`, its `/metrics` and its resident memory."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import OUTBOX, clean_env
from tests.support.emulator_process import EmulatorProcess
from tests.support.servers import free_port
from tests.support.waiting import wait_until

# Straight to 127.0.0.1, whatever proxy the environment names.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ProvisionerProcess:
    def __init__(
        self, emulator: EmulatorProcess, cwd: Path, *, command: list[str] | None = None, **env: str
    ) -> None:
        """`env` holds its OUTBOX_* settings; the kubeconfig and the metrics port are set here.
        `command` replaces `outbox provisioner run` (a benchmark's own launcher)."""
        self.port = free_port()
        self._command = command or [OUTBOX, "provisioner", "run"]
        self._env = clean_env(
            KUBECONFIG=str(emulator.kubeconfig),
            OUTBOX_CLUSTER="kubernetes",
            OUTBOX_METRICS_PORT=str(self.port),
            **env,
        )
        self._cwd = cwd  # no .env there
        self.log_path = cwd / f"provisioner-{self.port}.log"
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> ProvisionerProcess:
        """Started and ready: every kind listed (with the cache on) and the backends answering."""
        # Its log goes to a file: a pipe nobody reads would block it once full.
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                self._command, env=self._env, cwd=self._cwd, stdout=log, stderr=log, text=True
            )
        try:
            wait_until(self.ready, "the provisioner ready", timeout=timeout, interval=0.1,
                       process=self.process)  # fmt: skip
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.close()}") from None
        return self

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with _DIRECT.open(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        return self._get("/readyz")[0] == 200

    def metric(self, name: str, **labels: str) -> float:
        """A sample of /metrics (0 when absent), e.g. `outbox_provisioner_resyncs_total`."""
        status, text = self._get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def rss_kib(self) -> int:
        """Resident memory, from /proc (Linux)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def close(self) -> str:
        """SIGTERM; returns its log."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        return self.log_path.read_text() if self.log_path.exists() else ""
