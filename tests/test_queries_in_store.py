"""The check `make lint` runs: no MongoDB query shape outside `outbox/store/`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "tools" / "queries_in_store.py"

QUERIES = {
    "an operator as a key": 'query = {"state": {"$in": ["Running"]}}\n',
    "a field reference as a value": 'group = {"$group": {"_id": "$aggregate_id"}}\n',
    "an operator as a subscript": 'update = {}\nupdate["$set"] = {"a": 1}\n',
    "a collection reached for": "def f(store):\n    return store.collection('gateways')\n",
    "collections outside a transaction": "def f(store):\n    return store.unbound()\n",
}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("source", QUERIES.values(), ids=QUERIES.keys())
def test_a_query_in_a_product_package_fails_the_check(tmp_path: Path, source: str) -> None:
    module = tmp_path / "sweeper.py"
    module.write_text(source)

    result = check(module)

    assert result.returncode == 1
    assert f"{module}:" in result.stdout and "outside outbox/store/" in result.stdout


def test_dollar_signs_in_text_are_not_queries(tmp_path: Path) -> None:
    module = tmp_path / "help.py"
    module.write_text('HELP = {"usage": "$ outbox status", "cost": "$5"}\nprint("$set")\n')

    assert check(module).returncode == 0


def test_the_product_packages_pass_and_the_store_room_may_query() -> None:
    result = check(ROOT / "outbox" / "store")
    assert result.returncode == 0, result.stdout

    everything = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, check=False
    )
    assert everything.returncode == 0, everything.stdout
