"""Fails when a function of the product code is longer than 40 lines (`make lint` runs it).

A function's length runs from its `def` line to its last line: decorators are left out, the
docstring and any nested functions are counted. Long functions hide several steps in one place;
split the steps instead of raising the limit.

    python tools/function_length.py [PATH ...]   # default: the five product packages
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LIMIT = 40
PRODUCT_PACKAGES = ("outbox", "relay", "provisioner", "outbox_api", "outbox_cli")
Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class LongFunction:
    path: Path
    line: int
    name: str
    length: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name} is {self.length} lines (limit {LIMIT})"


def long_functions(path: Path, *, limit: int = LIMIT) -> list[LongFunction]:
    """The functions and methods of one source file that are longer than `limit` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        LongFunction(path, node.lineno, name, _length(node))
        for name, node in _functions(tree, prefix="")
        if _length(node) > limit
    ]


def _functions(parent: ast.AST, *, prefix: str) -> Iterator[tuple[str, Function]]:
    """Every function below `parent`, with a qualified name (`Relay.__init__`, `demo.say`)."""
    for node in ast.iter_child_nodes(parent):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, prefix=f"{name}.")
        else:
            yield from _functions(node, prefix=prefix)


def _length(function: Function) -> int:
    # Since Python 3.8 `lineno` is the `def` line itself, after any decorators.
    end = function.end_lineno if function.end_lineno is not None else function.lineno
    return end - function.lineno + 1


def source_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for given in map(Path, paths):
        files.extend(sorted(given.rglob("*.py")) if given.is_dir() else [given])
    return files


def main(argv: Sequence[str]) -> int:
    found = [
        long for path in source_files(argv or PRODUCT_PACKAGES) for long in long_functions(path)
    ]
    for long in found:
        print(long)
    if found:
        print(f"{len(found)} function(s) over {LIMIT} lines: split them into steps")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
