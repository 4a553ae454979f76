"""The README documents every setting and the two quick-start commands the CI and users run, and
its example alert rules can fire (the names they use are checked against the running daemons in
tests/ops/test_daemon_endpoints.py)."""

from __future__ import annotations

import re
from pathlib import Path

from outbox.settings import CommonSettings
from provisioner.settings import ProvisionerSettings
from relay.settings import RelaySettings
from tests.support.readme import METRIC, alert_rules, metric_kinds

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
