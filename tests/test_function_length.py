"""The function-length check that `make lint` runs: it fails on 41 lines and passes on 40, and
without paths it reads every product package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "tools" / "function_length.py"
# The product code: the packages mypy checks.
PRODUCT_PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]


def source_with_a_function_of(lines: int) -> str:
    """A decorated method whose `def` to last line spans `lines` lines, docstring included."""
    body = [f"        x{index} = {index}" for index in range(lines - 3)]
    return "\n".join(
        [
            "import functools",
            "",
            "",
            "class Thing:",
            "    @functools.cache",  # decorators do not count
            "    @staticmethod",
            "    def long() -> int:",
            '        """A docstring counts."""',
            *body,
            "        return 0",
            "",
        ]
    )


def run_check(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        cwd=cwd,
    )


def check(tmp_path: Path, lines: int) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "module.py"
    path.write_text(source_with_a_function_of(lines))
    return run_check(tmp_path)


def test_a_function_of_41_lines_fails_the_check_naming_its_place_and_length(
    tmp_path: Path,
) -> None:
    result = check(tmp_path, 41)

    assert result.returncode == 1
    assert f"{tmp_path / 'module.py'}:7: Thing.long is 41 lines (limit 40)" in result.stdout


def test_a_function_of_40_lines_passes(tmp_path: Path) -> None:
    result = check(tmp_path, 40)

    assert result.returncode == 0, result.stdout
    assert result.stdout == ""


@pytest.mark.parametrize("package", PRODUCT_PACKAGES)
def test_without_paths_the_check_reads_every_product_package(tmp_path: Path, package: str) -> None:
    for each in PRODUCT_PACKAGES:
        (tmp_path / each).mkdir()
    (tmp_path / package / "module.py").write_text(source_with_a_function_of(41))

    result = run_check(cwd=tmp_path)

    assert result.returncode == 1
    assert f"{Path(package) / 'module.py'}:7: Thing.long is 41 lines" in result.stdout
