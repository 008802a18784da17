"""The gate states its own error rates: operating characteristics in every output, the point
rule's false approvals, undecided floors as warnings, and the policy keys that govern them."""

from __future__ import annotations

import json

import pytest
import yaml

from evalkit.cli import main
from evalkit.gate import evaluate_gate
from evalkit.policy import GatePolicy
from evalkit.report.gate_summary import render_markdown, render_text
from evalkit.store import load_run
from recorded_runs import LABELS, build_run, cases_with

N = 30
CASES = cases_with([LABELS[i % 3] for i in range(N)], [["rare"] if i < 4 else ["common"] for i in range(N)])
RIGHT = {cid: label for cid, label, _ in CASES}


def judge(*args, **kwargs):
    """The gate on hand-written recordings (no request fingerprints): the policy decides, as
    `--allow-unverified` makes it."""
    return evaluate_gate(*args, allow_unverified=True, **kwargs)


def wrong_on(*numbers: int) -> dict[str, str]:
    return {
        cid: (LABELS[(LABELS.index(label) + 1) % 3] if int(cid[1:]) in numbers else label) for cid, label, _ in CASES
    }


SIGNIFICANCE = {"baseline": "base", "require_significant_improvement": True, "alpha": 0.05}
NON_INFERIORITY = {"baseline": "base", "max_drop": {"accuracy": 0.02}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    routes = {"base": wrong_on(*range(1, 10)), "tuned": wrong_on(8, 9), "copy": wrong_on(*range(1, 10))}
    return load_run(
        build_run(tmp_path_factory.mktemp("oc"), CASES, routes, gate={"candidate": "tuned", **SIGNIFICANCE})
    )


def points(verdict) -> dict[str, float]:
    return {p["at"]: p["p_approve"] for p in verdict.operating_characteristics["points"]}


def test_drop_on_defaults_to_the_interval():
    assert GatePolicy().drop_on == "ci95"


def test_the_significance_gate_approves_equal_routes_at_most_alpha_of_the_time(run):
    verdict = judge(SIGNIFICANCE, run, "tuned")
    assert points(verdict)["equal"] <= 0.05


def test_operating_characteristics_give_approval_at_minus_the_margin_zero_and_the_detectable_difference(run):
    verdict = judge({**NON_INFERIORITY, "max_drop": {"accuracy": 0.08}}, run, "tuned")
    oc = verdict.operating_characteristics
    assert [p["delta"] for p in oc["points"]] == pytest.approx([-0.08, 0.0, oc["smallest_detectable_difference"]])
    assert oc["n"] == N and oc["method"].startswith("exact")


def test_operating_characteristics_are_in_the_console_output_json_and_gate_md(run):
    verdict = judge(SIGNIFICANCE, run, "tuned")
    sentence = verdict.operating_characteristics["sentence"]
    assert "approves a candidate 5 points worse with probability" in sentence
    assert sentence in render_text(verdict) and sentence[1:] in render_markdown(verdict)
    assert verdict.to_dict()["operating_characteristics"]["sentence"] == sentence


def test_gate_json_on_the_command_line_carries_the_operating_characteristics(run, capsys):
    assert main(["gate", str(run.dir), "--json", "--allow-unverified"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["at"] for p in printed["operating_characteristics"]["points"]][:2] == ["worse", "equal"]


def test_with_no_discordant_pairs_the_detectable_difference_cannot_be_estimated(run):
    verdict = judge(SIGNIFICANCE, run, "copy")
    assert verdict.operating_characteristics["smallest_detectable_difference"] is None
    assert "cannot be estimated" in verdict.operating_characteristics["sentence"]
    assert verdict.comparison["mde"]["value"] is None and "cannot be estimated" in verdict.comparison["mde"]["reason"]


def test_deciding_on_the_point_estimate_states_its_false_approval_rate(run):
    verdict = judge({**NON_INFERIORITY, "drop_on": "point"}, run, "tuned")
    reason = next(c for c in verdict.checks if c.name == "max_drop.accuracy").reason
    assert "approves a candidate truly 5 points worse with probability" in reason and "n=30" in reason


def test_the_significance_check_uses_the_one_sided_p_that_compare_reports(run):
    verdict = judge(SIGNIFICANCE, run, "tuned")
    check = next(c for c in verdict.checks if c.name == "require_significant_improvement")
    assert check.value == verdict.comparison["mcnemar"]["p_one_sided"] == pytest.approx(0.5 ** 7)
    assert verdict.comparison["mcnemar"]["p_exact"] == pytest.approx(2 * 0.5 ** 7)  # two-sided, as before


def test_a_tag_below_min_cases_is_too_few_to_decide_in_every_output(run):
    verdict = judge({"min_by_tag": {"rare": {"accuracy": 0.99}}}, run, "tuned")  # 4 cases, default min 10
    floor = verdict.checks[-1]
    assert floor.status == "too few cases" and verdict.exit_code == 0
    assert "TOO FEW CASES" in render_text(verdict) and "⚠️ TOO FEW CASES" in render_markdown(verdict)


def test_a_label_floor_below_min_cases_is_too_few_to_decide(run):
    verdict = judge({"min_by_label": {"billing_dispute": {"f1": 0.99}}, "min_cases": 11}, run, "base")
    assert verdict.checks[-1].status == "too few cases" and verdict.checks[-1].passed


def test_min_cases_below_one_is_bad_input_naming_the_key(run, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"min": {"accuracy": 0.5}, "min_cases": 0}))
    assert main(["gate", str(run.dir), "--policy", str(policy)]) == 2
    assert "min_cases" in capsys.readouterr().err


def test_the_packet_shows_the_operating_characteristics_and_tag_intervals(run, tmp_path):
    assert main(["packet", str(run.dir), "--baseline", "base", "--candidate", "tuned", "--out", str(tmp_path)]) == 0
    md, html = (tmp_path / "packet.md").read_text(), (tmp_path / "packet.html").read_text()
    sentence = judge({"candidate": "tuned", **SIGNIFICANCE}, run).operating_characteristics["sentence"]
    head = sentence.split(" (from")[0]
    assert f"**Operating characteristics**: {head}" in md and head in html and "operating-characteristics" in html
    assert "| rare | 4 |" in md and "n=4" in md
