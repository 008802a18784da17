"""Metrics of every scored field: against scikit-learn, in the summary, in compare and in the gate."""

from __future__ import annotations

import json
import random

import pytest
import yaml

from conftest import REPO
from evalkit.cli import main
from evalkit.field_metrics import field_confusion, quadratic_kappa

ORDER = ["low", "medium", "high", "urgent"]


@pytest.mark.parametrize("seed", range(5))
def test_weighted_kappa_equals_scikit_learns_quadratic_kappa(seed):
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(seed)
    truth = [rng.randrange(4) for _ in range(60)]
    answer = [t if rng.random() < 0.6 else rng.randrange(4) for t in truth]
    ours = quadratic_kappa(list(zip(truth, answer)), 4)
    assert ours == pytest.approx(
        cohen_kappa_score(truth, answer, weights="quadratic", labels=list(range(4))), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
def test_a_field_confusion_equals_scikit_learns(seed):
    from sklearn.metrics import confusion_matrix

    rng = random.Random(seed)
    items = [{"expected": rng.choice(ORDER), "predicted": rng.choice(ORDER)} for _ in range(80)]
    ours = field_confusion(items, ORDER)["matrix"]
    theirs = confusion_matrix([i["expected"] for i in items], [i["predicted"] for i in items], labels=ORDER)
    assert [row[:4] for row in ours] == theirs.tolist()


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    out = tmp_path_factory.mktemp("fields") / "run"
    assert (
        main(["run", str(REPO / "evals" / "support_triage.yaml"), "--offline", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def test_the_example_reports_severity_and_rationale_per_route(offline):
    summary = json.loads((offline / "summary.json").read_text())["routes"]
    for route in ("base", "prompted", "rag", "tuned"):
        severity = summary[route]["fields"]["severity"]
        assert set(severity) >= {"accuracy", "within_one", "weighted_kappa", "mean_distance", "confusion"}
        assert severity["accuracy"]["n"] == 46 and severity["weighted_kappa"]["ci95"] is not None
        assert summary[route]["fields"]["rationale"]["pass_rate"]["value"] is not None
        assert summary[route]["exact_match"]["value"] <= summary[route]["accuracy"]["value"]


def test_compare_pairs_every_field_metric(offline, capsys):
    assert main(["compare", f"{offline}:base", f"{offline}:tuned", "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)["fields"]
    assert set(fields["severity"]) == {"accuracy", "within_one", "weighted_kappa", "mean_distance"}
    assert fields["severity"]["accuracy"]["ci95"] is not None and "p_one_sided" in fields["severity"]["accuracy"]


def gate(offline, tmp_path, policy: dict, *extra: str) -> int:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"candidate": "tuned", "baseline": "base", **policy}))
    return main(["gate", str(offline), "--policy", str(path), "--allow-unverified", *extra])


def test_a_floor_on_a_fields_metric_passes_or_rejects(offline, tmp_path, capsys):
    assert gate(offline, tmp_path, {"min": {"severity.within_one": 0.5}}) == 0
    assert gate(offline, tmp_path, {"min": {"severity.weighted_kappa": 0.99}}) == 1
    assert "min.severity.weighted_kappa" in capsys.readouterr().out


def test_a_drop_on_a_fields_metric_is_decided_on_its_paired_interval(offline, tmp_path, capsys):
    assert gate(offline, tmp_path, {"max_drop": {"severity.accuracy": 0.5}}) == 0
    assert gate(offline, tmp_path, {"max_drop": {"severity.accuracy": 0.0}}) == 1
    assert "max_drop.severity.accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "policy, message",
    [
        ({"min": {"sevrity.accuracy": 0.5}}, "'sevrity' is not a scored field (did you mean 'severity'?)"),
        (
            {"min": {"severity.acuracy": 0.5}},
            "'acuracy' is not a metric of the ordinal field 'severity' (did you mean 'accuracy'?)",
        ),
    ],
)
def test_a_policy_naming_an_unknown_field_or_metric_is_bad_input(offline, tmp_path, capsys, policy, message):
    assert gate(offline, tmp_path, policy) == 2
    assert message in capsys.readouterr().err


def test_the_report_shows_each_scored_field(offline):
    report = (offline / "report.md").read_text()
    assert "Scored fields" in report and "severity" in report and "weighted kappa" in report


def test_the_packet_shows_every_field_and_the_ordinal_confusion(offline, tmp_path):
    assert (
        main(
            [
                "packet",
                str(offline),
                "--baseline",
                "base",
                "--candidate",
                "tuned",
                "--allow-unverified",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    packet = json.loads((tmp_path / "p" / "packet.json").read_text())
    metrics = {(row["field"], row["metric"]) for row in packet["fields"]["rows"]}
    assert ("severity", "quadratic-weighted kappa") in metrics and ("rationale", "checks passed") in metrics
    assert {c["route"] for c in packet["fields"]["ordinal_confusions"]} == {"base", "prompted", "rag", "tuned"}
    for name in ("packet.html", "packet.md"):
        page = (tmp_path / "p" / name).read_text()
        assert "quadratic-weighted kappa" in page and "expected \\ answered" in page


def test_a_metric_declared_in_the_registry_alone_reaches_summary_compare_and_the_gate(offline, tmp_path, monkeypatch):
    from evalkit.compare import compare
    from evalkit.field_metrics import FIELD_METRICS, FieldMetric
    from evalkit.metrics import summarize
    from evalkit.store import load_run

    off_by_two = FieldMetric(
        "off_by_two",
        "two steps off or more",
        ("ordinal",),
        "rate",
        hit=lambda e: (e.get("distance") or 0) >= 2,
        counted=lambda e: e.get("correct") is not None,
    )
    monkeypatch.setitem(FIELD_METRICS, "off_by_two", off_by_two)
    run = load_run(offline)
    summary = summarize(run.rows, run.labels, routes=run.routes, fields=run.fields)
    assert summary["routes"]["tuned"]["fields"]["severity"]["off_by_two"]["n"] == 46
    assert "off_by_two" in compare(run, "base", run, "tuned")["fields"]["severity"]
    assert gate(offline, tmp_path, {"min": {"severity.off_by_two": 0.0}}) == 0


def test_the_metrics_frame_has_each_fields_metrics_and_exact_match(offline):
    import evalkit

    metrics = evalkit.metrics_frame(offline).set_index(["route", "metric"])
    summary = json.loads((offline / "summary.json").read_text())["routes"]["tuned"]
    kappa = metrics.loc[("tuned", "severity.weighted_kappa")]
    assert kappa["value"] == summary["fields"]["severity"]["weighted_kappa"]["value"] and kappa["n"] == 46
    assert ("tuned", "rationale.pass_rate") in metrics.index and ("tuned", "exact_match") in metrics.index
