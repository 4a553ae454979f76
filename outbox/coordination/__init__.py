"""Coordination between processes, in MongoDB: leases, membership and partition ownership.

`leases` judges lease records (pure); `lease_holder` takes, renews and releases one; `membership`
keeps a heartbeat per daemon process; `ownership` gives a replica its fair share of the
partitions; `partition_count` and `repartitioning` record and change how many there are.
"""
