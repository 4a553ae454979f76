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
from redis.cluster import RedisCluster

from tests.support.waiting import wait_until

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
        for port in self.ports:
            self._start_node(port)
        if not created:
            self._create()
        wait_until(self._ready, "Redis Cluster ok", timeout=30, interval=0.1)
        return self

    def _start_node(self, port: int) -> None:
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "2000", "--appendonly", "yes", "--save", "",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: self._answers(port), f"cluster node {port} up", timeout=15)

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
        try:
            return bool(self.node(port).ping())
        except redis.RedisError:
            return False

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
