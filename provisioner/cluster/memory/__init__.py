"""The in-memory cluster: the cluster port's stand-in for the demo and the tests.

`cluster` is the adapter (`MemoryCluster`); `apply_rules` what the API server accepts and what
server-side apply makes of an object (shared with the tests' API server emulator); `rollouts`
the rollout clock and the status a Deployment reports by it; `calls` the call counts and the
injected faults.
"""

from provisioner.cluster.memory.apply_rules import check_manifest, merge_apply
from provisioner.cluster.memory.calls import OPERATIONS
from provisioner.cluster.memory.cluster import WATCH_WAKE_SECONDS, MemoryCluster
from provisioner.cluster.memory.rollouts import ALL

__all__ = [
    "ALL",
    "OPERATIONS",
    "WATCH_WAKE_SECONDS",
    "MemoryCluster",
    "check_manifest",
    "merge_apply",
]
