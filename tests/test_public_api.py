"""The public Python API survives the rooms: `from outbox import Writer` and every import the
README shows still work, and each public name is the class its room defines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import outbox

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*(from (outbox|relay|provisioner|outbox_api)[\w.]* import [\w, ]+)$", re.M)


def readme_imports() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [match[0] for block in blocks for match in IMPORT.findall(block)]


def test_the_writer_and_the_stores_import_from_the_package() -> None:
    from outbox import MemoryStore, Writer

    writer = Writer(MemoryStore())
    created = writer.create("edge", {"image": "nginxinc/nginx-unprivileged:1.27"})
    assert writer.get("edge").id == created.id


@pytest.mark.parametrize("name", outbox.__all__)
def test_every_public_name_resolves_to_its_rooms_definition(name: str) -> None:
    value = getattr(outbox, name)

    assert value.__module__.startswith("outbox."), value.__module__
    assert value.__name__ == name


def test_the_readme_shows_imports_and_each_one_works() -> None:
    imports = readme_imports()

    assert "from outbox import MongoStore, Writer" in imports
    for line in imports:
        exec(line, {})  # an import line of the README, nothing else
