"""A headline metric is one declaration in evalkit.headline: registering it alone puts it in
the summary, the comparison, the report, the gate's policy and the policy's schema."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.compare import compare
from evalkit.gate import evaluate_gate
from evalkit.headline import HEADLINE, HeadlineMetric, register, unregister
from evalkit.metrics import summarize_route
from evalkit.policy import GatePolicy, parse_policy
from evalkit.report.format import route_headers, route_rows
from evalkit.store import load_run
from recorded_runs import LABELS, build_run, cases_with


def error_share(conf, n_labels):
    """Rows whose call failed over all rows (the last column of the confusion matrix)."""
    total = conf.sum(axis=(1, 2)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, conf[:, :, n_labels + 1].sum(axis=1) / total, np.nan)


THROWAWAY = HeadlineMetric(
    "error_share",
    "error share",
    "Rows whose call failed over all rows.",
    error_share,
    higher_is_better=False,
)


@pytest.fixture
def throwaway():
    register(THROWAWAY)
    yield THROWAWAY
    unregister(THROWAWAY.name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """30 cases; route b fails 3 calls that a answers."""
    cases = cases_with([LABELS[i % 3] for i in range(30)])
    a = {case_id: label for case_id, label, _ in cases}
    b = {case_id: (None if i < 3 else label) for i, (case_id, label, _) in enumerate(cases)}
    return load_run(build_run(tmp_path_factory.mktemp("registry"), cases, {"a": a, "b": b}))


def test_a_registered_metric_is_in_the_route_summary_with_its_interval(throwaway, run):
    summary = summarize_route(run.route_rows("b"), run.labels, n_boot=200)
    entry = summary["error_share"]
    assert entry["value"] == pytest.approx(0.1)
    assert entry["n"] == 30
    assert entry["ci95"][0] < 0.1 < entry["ci95"][1]


def test_a_registered_metric_is_compared_case_by_case(throwaway, run):
    entry = compare(run, "a", run, "b", n_boot=200)["metrics"]["error_share"]
    assert (entry["a"], entry["b"]) == (0.0, pytest.approx(0.1))
    assert entry["delta"] == pytest.approx(0.1)
    assert entry["ci95"][1] > 0


def test_a_registered_metric_is_in_the_policy_schema_as_a_floor_and_a_drop(throwaway):
    definitions = GatePolicy.model_json_schema()["$defs"]
    assert "error_share" in definitions["MinMetrics"]["properties"]
    assert "error_share" in definitions["MaxDrop"]["properties"]


def test_a_metric_unknown_to_the_registry_is_refused_by_the_policy():
    with pytest.raises(Exception, match="unknown key 'min.error_share'"):
        parse_policy({"min": {"error_share": 0.1}}, where="policy.yaml")


def test_a_lower_is_better_metric_is_gated_as_a_ceiling_and_a_rise(throwaway, run):
    verdict = evaluate_gate(
        {"min": {"error_share": 0.05}, "max_drop": {"error_share": 0.0}, "drop_on": "point", "error_budget": 0.5},
        run,
        "b",
        (run, "a"),
        n_boot=200,
        allow_unverified=True,
    )
    checks = {check.name: check for check in verdict.checks}
    assert not checks["min.error_share"].passed and "above the ceiling" in checks["min.error_share"].reason
    assert not checks["max_drop.error_share"].passed and checks["max_drop.error_share"].value == pytest.approx(0.1)


def test_a_registered_metric_is_a_column_of_the_report(throwaway, run):
    summary = {"routes": {"b": summarize_route(run.route_rows("b"), run.labels, n_boot=200)}}
    headers = route_headers()
    assert "error share" in headers
    assert route_rows(summary)[0][headers.index("error share")].startswith("0.100 [")


def test_the_built_in_headline_metrics_are_declared_once_each():
    assert list(HEADLINE) == ["accuracy", "parse_rate", "kappa", "macro_f1"]


def test_a_metric_declared_ungated_is_reported_but_refused_by_the_policy(run):
    register(HeadlineMetric("error_share", "error share", "Failed rows.", error_share, gated=False))
    try:
        assert "error_share" in summarize_route(run.route_rows("b"), run.labels, n_boot=200)
        assert "error_share" not in GatePolicy.model_json_schema()["$defs"]["MinMetrics"]["properties"]
        with pytest.raises(Exception, match="unknown key 'max_drop.error_share'"):
            parse_policy({"max_drop": {"error_share": 0.1}}, where="policy.yaml")
    finally:
        unregister("error_share")
