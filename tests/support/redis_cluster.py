"""A private Redis Cluster the tests start and stop themselves: only redis-server and redis-cli.

Masters (and, if asked, one replica each) on free ports whose cluster bus ports (+10000) are
free too, joined by `redis-cli --cluster create`, and used once every node says
`cluster_state:ok` (and every replica's link is up). `stop()` and `start()` keep the ports and
the data directories (with each node's `nodes.conf`), so the cluster comes back as it was.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from tests.support.waiting import became_true, wait_until

BUS_OFFSET = 10_000


def free_cluster_port() -> int:
    """A free port whose cluster bus port is free as well."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + BUS_OFFSET < 65536 and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free port with a free cluster bus port")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisClusterServers:
    def __init__(self, *, masters: int = 3, replicas: int = 0) -> None:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="outbox-redis-cluster-"))
        self.replicas = replicas
        self.ports = [free_cluster_port() for _ in range(masters * (1 + replicas))]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisClusterServers:
        created = (self.dir / "created").exists()
        for index in range(len(self.ports)):
            self._start_node(index, may_move=not created)
        if not created:
            self._create()
        wait_until(self._ready, "Redis Cluster ok", timeout=30, interval=0.1)
        return self

    def _start_node(self, index: int, *, may_move: bool) -> None:
        """Start the node at `self.ports[index]`. A port found free can be taken before the
        node binds it (or its bus port): before the cluster is created, the node then moves to
        another free port; afterwards its port is part of the cluster, and that is an error."""
        for _ in range(5):
            port = self.ports[index]
            process = self._launch(port)
            if process is not None:
                self.processes[port] = process
                return
            if not may_move:
                break
            self.ports[index] = free_cluster_port()
        log = self.dir / str(port) / "redis.log"
        tail = log.read_text()[-500:] if log.exists() else ""
        raise RuntimeError(f"cluster node on port {port} did not start: {tail}")

    def _launch(self, port: int) -> subprocess.Popen[bytes] | None:
        """A node serving on `port`, or None if it exited (or hung) first."""
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
             "--logfile", str(node_dir / "redis.log"),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "2000", "--appendonly", "yes", "--save", "",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        became_true(lambda: process.poll() is not None or self._answers(port), timeout=15)
        if process.poll() is None and self._answers(port):
            return process
        process.kill()
        process.wait(timeout=15)
        return None

    def _create(self) -> None:
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", str(self.replicas),
             "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        (self.dir / "created").touch()

    def _answers(self, port: int) -> bool:
        """One quick PING, no retries: whatever else holds the port may never answer."""
        probe = redis.Redis(port=port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
        try:
            return bool(probe.ping())
        except redis.RedisError:
            return False
        finally:
            probe.close()

    def _ready(self) -> bool:
        try:
            for port in self.ports:
                node = self.node(port)
                # redis-py parses CLUSTER INFO into a dict of its `name:value` lines.
                if node.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                    return False
                replication = node.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
            return True
        except redis.RedisError:
            return False

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, decode_responses=True, socket_timeout=2)

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.ports[0], decode_responses=True)

    def replica_of_key(self, key: str) -> int:
        """The port of the replica that copies the master holding `key`."""
        master = self.client().get_node_from_key(key)
        for port in self.ports:
            replication = self.node(port).info("replication")
            if replication["role"] == "slave" and replication["master_port"] == master.port:
                return port
        raise LookupError(f"no replica of the master of {key}")

    def pause(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a paused node would not see the SIGTERM
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.wait(timeout=15)
        self.processes.clear()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
