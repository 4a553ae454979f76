"""A gateway's partition: a stable, pure function of its id and P, the same in every process."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from outbox.domain.model import new_gateway_id
from outbox.domain.partitions import MAX_PARTITIONS, fair_share, partition_of


def test_the_partition_is_the_crc32_of_the_id_modulo_p() -> None:
    # The standard CRC-32 check value (the zlib polynomial, `crc32` in every language): an
    # outside consumer computes the same partitions, and the hash can never change unnoticed.
    assert partition_of("123456789", 1000) == 0xCBF43926 % 1000
    assert partition_of("123456789", 8) == 0xCBF43926 % 8


def test_a_partition_lies_between_0_and_p_minus_1_and_one_partition_holds_everything() -> None:
    ids = [new_gateway_id() for _ in range(500)]
    for partitions in (1, 2, 3, 8, 64):
        assert {partition_of(i, partitions) for i in ids} <= set(range(partitions))
    assert {partition_of(i, 1) for i in ids} == {0}


def test_random_gateway_ids_spread_evenly_over_eight_partitions() -> None:
    counts = Counter(partition_of(new_gateway_id(), 8) for _ in range(16_000))
    assert set(counts) == set(range(8))
    assert all(1700 <= count <= 2300 for count in counts.values()), counts


def test_every_process_computes_the_same_partitions_whatever_its_hash_seed() -> None:
    ids = [new_gateway_id() for _ in range(50)]
    here = [partition_of(i, 8) for i in ids]
    program = (
        "import sys; from outbox.domain.partitions import partition_of; "
        "print(' '.join(str(partition_of(i, 8)) for i in sys.argv[1:]))"
    )
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", program, *ids],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert [int(p) for p in result.stdout.split()] == here


@pytest.mark.parametrize("partitions", [0, -1, MAX_PARTITIONS + 1, True, 2.0])
def test_an_unusable_partition_count_is_refused_with_what_is_allowed(partitions: object) -> None:
    with pytest.raises(ValueError, match="partition count"):
        partition_of("gw_1", partitions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("partitions", "members", "share"),
    [(8, 1, 8), (8, 2, 4), (8, 3, 3), (8, 8, 1), (8, 9, 1), (1, 3, 1), (8, 0, 8)],
)
def test_the_fair_share_is_p_over_live_members_rounded_up(
    partitions: int, members: int, share: int
) -> None:
    assert fair_share(partitions, members) == share
