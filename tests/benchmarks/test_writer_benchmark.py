"""The writer benchmark runs round after round on nx-27017, and says by its exit status whether
it met its target (`make bench` fails on a miss; `make bench-quick` runs every benchmark in CI)."""

from __future__ import annotations

import pytest

from benchmarks import writer


def test_every_round_on_nx_27017_starts_from_empty_collections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The second round used to find the first round's baseline rows: DuplicateKeyError.
    status = writer.main(["--quick", "--stores", "nx-27017", "--rounds", "2", "--gateways", "3"])

    assert status == 0
    assert "nx-27017          3" in capsys.readouterr().out


def test_a_missed_target_is_a_failing_exit_status_except_in_quick_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(writer.TARGETS, "memory", 0.0)  # no writer can cost nothing
    arguments = ["--stores", "memory", "--gateways", "3", "--rounds", "1"]

    assert writer.main(arguments) == 1
    assert "MISS" in capsys.readouterr().out
    assert writer.main(["--quick", *arguments]) == 0
