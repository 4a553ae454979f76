"""Secret files: a mounted Secret gives settings their values, named as the variables.

`load` reads the directory $OUTBOX_SECRETS_DIR names (else /etc/outbox/secrets when it exists);
the environment wins over a file; a bad value names its variable and its file, never its content.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outbox.domain.errors import InvalidInput
from outbox.runtime.settings import SECRETS_DIR, SECRETS_DIR_VARIABLE, load, secrets_dir
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings

URI = "mongodb://outbox:s3cret@db-0:27017/?replicaSet=rs0"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty secrets directory that `load` reads, and no OUTBOX_ variable it could shadow."""
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    for variable in ("OUTBOX_MONGODB_URI", "OUTBOX_REDIS_URL", "OUTBOX_WORKERS"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_a_file_named_after_a_variable_gives_its_value(secrets: Path) -> None:
    (secrets / "OUTBOX_MONGODB_URI").write_text(URI + "\n")  # the trailing newline is dropped

    assert load(RelaySettings).mongodb_uri == URI


def test_the_environment_wins_over_a_file(secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (secrets / "OUTBOX_REDIS_URL").write_text("redis://:from-file@redis:6379/0")
    monkeypatch.setenv("OUTBOX_REDIS_URL", "redis://127.0.0.1:6380/0")

    assert load(RelaySettings).redis_url == "redis://127.0.0.1:6380/0"


def test_a_bad_value_in_a_file_names_the_variable_and_the_file_but_not_the_value(
    secrets: Path,
) -> None:
    (secrets / "OUTBOX_WORKERS").write_text("zero-and-secret")

    with pytest.raises(InvalidInput) as refused:
        load(ProvisionerSettings)

    assert str(refused.value).startswith("invalid configuration: OUTBOX_WORKERS: ")
    assert str(secrets / "OUTBOX_WORKERS") in str(refused.value)
    assert "zero-and-secret" not in str(refused.value)


def test_a_bad_value_in_the_environment_is_still_shown(
    secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOX_WORKERS", "0")

    with pytest.raises(InvalidInput, match=r"OUTBOX_WORKERS: .* \(got '0'\)"):
        load(ProvisionerSettings)


def test_a_secrets_directory_that_is_not_one_is_refused_naming_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(tmp_path / "missing"))

    with pytest.raises(InvalidInput, match=f"^invalid configuration: {SECRETS_DIR_VARIABLE}: "):
        load(RelaySettings)


def test_without_the_variable_the_mount_point_is_used_when_it_exists() -> None:
    assert secrets_dir({}) == (SECRETS_DIR if SECRETS_DIR.is_dir() else None)
    assert secrets_dir({SECRETS_DIR_VARIABLE: ""}) is None, "an empty value turns files off"
