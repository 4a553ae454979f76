"""`--once` on a partitioned store: a relay alone drains every partition into its stream, and a
provisioner alone handles every partition's entries, acks them, and hands its leases back."""

from __future__ import annotations

from outbox.domain.model import Phase
from outbox.domain.partitions import partition_of
from outbox.store.memory.store import MemoryStore
from outbox.store.port import LEASES
from outbox.stream import StreamConfig
from outbox.stream.memory.stream import MemoryStream
from outbox.writer import Writer
from provisioner.cluster.memory import MemoryCluster
from provisioner.factory import build_provisioner
from relay.factory import build_relay
from tests.support.partitions import (
    STREAM,
    assert_each_once_in_its_partition,
    partition_entries,
    record_partitions,
)
from tests.support.relay import relay_settings
from tests.support.world import provisioner_settings

P = 4


def test_once_a_relay_and_a_provisioner_alone_cover_every_partition() -> None:
    store = MemoryStore()
    record_partitions(store, P)
    stream = MemoryStream(StreamConfig(stream=STREAM))
    writer = Writer(store)
    ids: list[str] = []
    # Ids are random: go on until every partition has a gateway (24 almost always suffice).
    while len(ids) < 24 or {partition_of(i, P) for i in ids} != set(range(P)):
        ids.append(writer.create(f"gw-{len(ids)}", {"image": "nginx:1.27"}).id)

    relay = build_relay(relay_settings(), store=store, stream=stream, change_streams=False)
    totals = relay.drain(lease_wait=1)
    assert totals.published == len(ids)
    assert_each_once_in_its_partition(stream, P, [e.id for i in ids for e in writer.events(i)])

    provisioner = build_provisioner(
        provisioner_settings(), store=store, stream=stream, cluster=MemoryCluster()
    )
    handled = provisioner.drain()

    assert handled.acked == len(ids)
    assert {writer.get(i).phase for i in ids} == {Phase.STARTING}
    for partition, entries in partition_entries(stream, P).items():
        group = stream.with_config(StreamConfig(stream=f"{{{STREAM}:{partition}}}")).status()
        assert group.group is not None and group.group.pending == 0, partition
        assert entries
    held = [d for d in store.collection(LEASES).find({}) if d.get("owner")]
    assert held == [], "both handed their partitions back"
