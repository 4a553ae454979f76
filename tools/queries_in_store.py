"""Fails when product code outside `outbox/store/` speaks MongoDB (`make lint` runs it).

Every query shape lives in the store room: its repositories and adapters. Elsewhere, a string
constant starting with `$` used as a dict key, a dict value or a subscript (`{"$in": ...}`,
`{"_id": "$aggregate_id"}`, `update["$set"]`) is a query written in the wrong place, and so is a
call of `.collection(...)` or `.unbound()`, the store's collections. Tests and benchmarks are
exempt: they may set up data however they like.

    python tools/queries_in_store.py [PATH ...]   # default: the product packages
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("outbox", "relay", "provisioner", "outbox_api", "outbox_cli")
STORE_ROOM = Path("outbox") / "store"
# An operator or a field reference: `$` and then a name; "$ outbox status" in help text is not.
_OPERATOR = re.compile(r"^\$[A-Za-z_]")
_COLLECTION_CALLS = ("collection", "unbound")


@dataclass(frozen=True)
class Query:
    path: Path
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what} outside {STORE_ROOM}/"


def queries(path: Path) -> list[Query]:
    """The places in one source file that build a MongoDB query or reach for a collection."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted(
        (Query(path, getattr(node, "lineno", 0), what) for node, what in _findings(tree)),
        key=lambda query: query.line,
    )


def _findings(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for part in [*node.keys, *node.values]:
                if _is_operator(part):
                    yield node, f"the query operator {part.value!r}"  # type: ignore[union-attr]
        elif isinstance(node, ast.Subscript) and _is_operator(node.slice):
            yield node, f"the query operator {node.slice.value!r}"  # type: ignore[attr-defined]
        elif isinstance(node, ast.Call) and _calls_a_collection(node):
            yield node, f"a call of .{node.func.attr}()"  # type: ignore[attr-defined]


def _is_operator(node: ast.AST | None) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(_OPERATOR.match(node.value))
    )


def _calls_a_collection(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr in _COLLECTION_CALLS


def product_files(roots: Sequence[Path]) -> Iterator[Path]:
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            if (ROOT / STORE_ROOM) not in path.resolve().parents:
                yield path


def main(argv: Sequence[str]) -> int:
    roots = [Path(arg) for arg in argv] or [ROOT / package for package in PRODUCT_PACKAGES]
    found = [query for path in product_files(roots) for query in queries(path)]
    for query in found:
        print(query)
    if found:
        print(f"{len(found)} MongoDB quer(ies) outside the store: move them into a repository")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
