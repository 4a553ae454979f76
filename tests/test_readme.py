"""The README documents every setting and the two quick-start commands the CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

from outbox.settings import CommonSettings
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    names = {
        f"OUTBOX_{field.upper()}"
        for settings in (CommonSettings, RelaySettings, ProvisionerSettings)
        for field in settings.model_fields
    }
    documented = set(re.findall(r"`(OUTBOX_[A-Z_]+)`", README))
    assert names - documented == set()


def test_the_quick_start_commands_are_the_ones_ci_runs() -> None:
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
