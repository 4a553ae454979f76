"""What the README promises about metrics, parsed from its "Observability" section: the metrics
table (names and kinds) and the example alert rules."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
METRIC = re.compile(r"\b(?:outbox|process)_[a-z0-9_]+\b")


def section(title: str) -> str:
    """The text under `## title`, up to the next second-level heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def documented_metrics() -> set[str]:
    """Every metric name the Observability section mentions, in the table or an alert."""
    return set(METRIC.findall(section("Observability")))


def metric_kinds() -> dict[str, str]:
    """name -> kind from the metrics table; a row may name several, with one kind or one each."""
    kinds = {}
    for line in section("Observability").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not METRIC.search(cells[0]):
            continue
        names = METRIC.findall(cells[0])
        row_kinds = [kind.strip() for kind in cells[1].split(",")]
        if len(row_kinds) == 1:
            row_kinds = row_kinds * len(names)
        kinds.update(zip(names, row_kinds, strict=True))
    return kinds


def alert_rules() -> dict[str, str]:
    """alert name -> expression, from the YAML example in the Observability section."""
    (block,) = re.findall(r"```yaml\n(.*?)```", section("Observability"), re.DOTALL)
    (group,) = yaml.safe_load(block)["groups"]
    return {rule["alert"]: rule["expr"] for rule in group["rules"]}
