"""The README documents every setting and the two quick-start commands the CI and users run, and
its example alert rules can fire (the names they use are checked against the running daemons in
tests/health/test_daemon_endpoints.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from outbox.domain.clock import utcnow
from outbox.runtime.settings import CommonSettings
from outbox.store.memory.store import MemoryStore
from outbox.store.mongo.store import MongoStore
from outbox.store.port import GATEWAYS, Collections, Store, T
from outbox.writer import Writer
from outbox_api.settings import ApiSettings
from outbox_cli.app import App
from outbox_cli.main import cli
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings
from tests.support.readme import METRIC, alert_rules, metric_kinds
from tests.support.servers import free_port
from tests.support.store_faults import InterruptingStore

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    names = {
        f"OUTBOX_{field.upper()}"
        for settings in (CommonSettings, RelaySettings, ProvisionerSettings, ApiSettings)
        for field in settings.model_fields
    }
    documented = set(re.findall(r"`(OUTBOX_[A-Z_]+)`", README))
    assert names - documented == set()


def test_the_quick_start_commands_are_the_ones_ci_runs() -> None:
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


class _BrokenStore(MemoryStore):
    """A store with a fault no adapter translates: the command line's last line of defence."""

    def transaction(self, work: Callable[[Collections], T]) -> T:
        raise RuntimeError("disk on fire")


def _documented_exit_codes() -> dict[int, str]:
    sentence = README.split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    found = re.findall(r"(\d+) ([^;.]+)", " ".join(sentence.split()))
    return {int(code): meaning.strip() for code, meaning in found}


def _unreachable_store() -> MongoStore:
    return MongoStore(f"mongodb://127.0.0.1:{free_port()}/", timeout_seconds=0.3)


def _degraded_store() -> MemoryStore:
    """Gateway edge, whose first start gave up at its start timeout: at rest, Stopped."""
    store = MemoryStore()
    Writer(store).create("edge", {"image": "nginx:1.27"})
    error = {"reason": "StartTimeout", "message": "rollout not complete", "at": utcnow()}
    store.collection(GATEWAYS).update_one(
        {"name": "edge"}, {"$set": {"state": "Stopped", "phase": "Stopped", "last_error": error}}
    )
    return store


IMAGE = ("--image", "nginx:1.27")
WAIT_STARTED = ["gateway", "wait", "edge", "--for", "phase=Started"]
# For each documented exit code: a store, what happened before, and the command that ends so.
EXIT_CODE_CASES: dict[int, tuple[Callable[[], Store], list[list[str]], list[str]]] = {
    0: (MemoryStore, [], ["gateway", "create", "edge", *IMAGE]),
    1: (_BrokenStore, [], ["gateway", "create", "edge", *IMAGE]),
    2: (MemoryStore, [], ["gateway", "create", "Not_A_Name", *IMAGE]),
    3: (MemoryStore, [["gateway", "create", "edge", *IMAGE]], ["gateway", "restart", "edge"]),
    4: (
        MemoryStore,
        [["gateway", "create", "edge", *IMAGE]],
        ["gateway", "create", "edge", *IMAGE],
    ),
    5: (MemoryStore, [], ["gateway", "get", "nowhere"]),
    6: (_unreachable_store, [], ["gateway", "create", "edge", *IMAGE]),
    7: (_degraded_store, [], WAIT_STARTED),
    8: (MemoryStore, [["gateway", "create", "edge", *IMAGE]], [*WAIT_STARTED, "--timeout", "0.2s"]),
    130: (InterruptingStore, [], ["gateway", "list"]),
}


def test_every_documented_exit_code_is_tested() -> None:
    assert sorted(_documented_exit_codes()) == sorted(EXIT_CODE_CASES)


@pytest.mark.parametrize("code", sorted(EXIT_CODE_CASES))
def test_each_documented_exit_code_ends_with_at_most_one_line_on_stderr(code: int) -> None:
    make_store, before, command = EXIT_CODE_CASES[code]
    store = make_store()
    runner = CliRunner()

    def invoke(args: list[str]) -> Result:
        app = App(env_file=None)
        app._store = store
        return runner.invoke(cli, ["--env-file", "/nonexistent", *args], obj=app)

    for args in before:
        assert invoke(args).exit_code == 0
    result = invoke(command)

    assert result.exit_code == code, result.output
    errors = result.stderr.splitlines()
    quiet = code in (0, 130)  # done, or interrupted by the user, who knows
    assert errors == [] if quiet else len(errors) == 1 and errors[0].startswith("error: ")
    assert "Traceback" not in result.output


# Gauges whose value is this process's own (the lease holder's 1, its queue): summing them over
# the replicas means something. Every other gauge is computed from the shared data by each
# replica alike, so a sum multiplies it by the number of replicas: alerts take the max.
PER_PROCESS_GAUGES = {"outbox_relay_lease_holder", "outbox_provisioner_in_flight"}
SUMMED = re.compile(r"\b(?:sum|avg)\s*(?:by\s*\([^)]*\)\s*)?\(\s*([a-z_:][a-z0-9_:]*)")


def test_the_alert_rules_name_only_metrics_of_the_table() -> None:
    named = {name for expr in alert_rules().values() for name in METRIC.findall(expr)}

    assert named and named <= set(metric_kinds())


def test_alerts_over_a_gauge_every_replica_exports_take_the_max_not_the_sum() -> None:
    kinds = metric_kinds()
    summed_gauges = {
        alert: name
        for alert, expr in alert_rules().items()
        for name in SUMMED.findall(expr)
        if kinds.get(name) == "gauge" and name not in PER_PROCESS_GAUGES
    }

    assert summed_gauges == {}


def test_alerts_aggregate_counters_before_comparing_them() -> None:
    # `increase(x[15m]) > 0` fires once per replica and label set, and `a and increase(...)`
    # matches nothing when `a` is an aggregate without labels: sum the increase first.
    bare = {
        alert: expr
        for alert, expr in alert_rules().items()
        if re.search(r"(?<!sum\()increase\(", expr)
    }

    assert bare == {}
