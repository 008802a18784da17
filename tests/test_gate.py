"""evaluate_gate(): every check a gate policy can ask for, its reason, and the exit code it leads to."""

from __future__ import annotations

import json
import shutil

import pytest

from evalkit.compare import compare
from evalkit.errors import BadInput, RunIncomplete
from evalkit.gate import evaluate_gate
from evalkit.policy import GatePolicy, load_policy, parse_policy, policy_of_run
from evalkit.store import load_run
from recorded_runs import LABELS, build_run, cases_with

N = 30


def judge(*args, **kwargs):
    """The gate on these hand-written recordings, which carry no request fingerprints: the
    policy's checks decide, as `--allow-unverified` makes them (evidence is tested apart)."""
    return evaluate_gate(*args, allow_unverified=True, **kwargs)
CASES = cases_with([LABELS[i % 3] for i in range(N)], [["adjacent-labels"] if i < 10 else ["easy"] for i in range(N)])


def wrong_on(*numbers: int, errors: tuple[int, ...] = ()) -> dict[str, str | None]:
    """Answers right on every case but c{numbers} (a wrong label) and c{errors} (no output)."""
    answers = {}
    for case_id, label, _ in CASES:
        number = int(case_id[1:])
        answers[case_id] = (
            None if number in errors else LABELS[(LABELS.index(label) + 1) % 3] if number in numbers else label
        )
    return answers


ROUTES = {
    "base": wrong_on(*range(1, 10)),                    # 21/30
    "tuned": wrong_on(8, 9),                            # 28/30: fixes 7 of base's mistakes, breaks none
    "slightly": wrong_on(*range(3, 10)),                # fixes 2: better, not significantly
    "sidegrade": wrong_on(*range(4, 13)),               # fixes 3, breaks 3: same accuracy as base
    "worse": wrong_on(*range(1, 13)),                   # 18/30
    "flaky": wrong_on(8, 9, errors=(20, 21)),           # 2 error rows of 30
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pricing = {"replay:tuned.jsonl": {"input": 1.0, "output": 2.0}}
    return load_run(build_run(tmp_path_factory.mktemp("gate"), CASES, ROUTES, pricing=pricing,
                              latency_ms={"tuned": 200.0}, gate={"candidate": "tuned", "min": {"accuracy": 0.9}}))


def check(verdict, name):
    return next(c for c in verdict.checks if c.name == name)


def test_every_check_passing_approves_with_exit_0(run):
    policy = {"baseline": "base", "min": {"accuracy": 0.9, "parse_rate": 1.0}, "max_drop": {"accuracy": 0.0},
              "require_significant_improvement": True, "error_budget": 0.0, "max_cost_per_1k_usd": 1.0,
              "max_latency_p95_ms": 300}
    verdict = judge(policy, run, "tuned")
    assert verdict.blocking == [] and verdict.exit_code == 0 and verdict.decision == "approve"


def test_a_failed_floor_rejects_with_exit_1_and_says_why(run):
    verdict = judge({"min": {"accuracy": 0.9}}, run, "base")
    failed = check(verdict, "min.accuracy")
    assert verdict.exit_code == 1 and not failed.passed
    assert (failed.value, failed.threshold) == (pytest.approx(0.7), 0.9)
    assert failed.reason == "accuracy 0.700 (n=30) is below the floor 0.900"


def test_a_floor_is_met_at_equality(run):
    assert judge({"min": {"accuracy": 0.7}}, run, "base").exit_code == 0


def test_errors_beyond_the_budget_exit_3_even_when_other_checks_fail(run):
    verdict = judge({"min": {"accuracy": 0.99}, "error_budget": 0.05}, run, "flaky")
    assert verdict.exit_code == 3 and verdict.decision == "incomplete"
    budget = check(verdict, "error_budget.candidate")
    assert not budget.passed and budget.value == pytest.approx(2 / 30)
    assert "replay_error: 2" in budget.reason
    assert not check(verdict, "min.accuracy").passed  # still evaluated and reported


def test_the_baselines_errors_count_against_the_budget_too(run):
    verdict = judge({"error_budget": 0.0}, run, "tuned", (run, "flaky"))
    assert verdict.exit_code == 3 and not check(verdict, "error_budget.baseline").passed


def test_an_incomplete_run_exits_3(run, tmp_path):
    copy = shutil.copytree(run.dir, tmp_path / "run")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["status"] = "incomplete"  # as the runner leaves a run stopped by a signal
    (copy / "manifest.json").write_text(json.dumps(manifest))
    verdict = judge({"min": {"accuracy": 0.5}}, load_run(copy), "tuned")
    assert verdict.exit_code == 3
    assert "--resume" in check(verdict, "complete.candidate").reason


def test_max_drop_on_the_point_estimate(run):
    verdict = judge({"baseline": "base", "max_drop": {"accuracy": 0.05}, "drop_on": "point"}, run, "worse")
    drop = check(verdict, "max_drop.accuracy")
    assert verdict.exit_code == 1 and drop.value == pytest.approx(0.1)
    assert "a drop of 0.100, more than the 0.050 allowed" in drop.reason


def test_max_drop_on_the_interval_bound_is_stricter_than_on_the_point(run):
    policy = {"baseline": "base", "max_drop": {"accuracy": 0.02}}
    assert judge({**policy, "drop_on": "point"}, run, "sidegrade").exit_code == 0
    verdict = judge(policy, run, "sidegrade")
    drop = check(verdict, "max_drop.accuracy")
    newcombe = verdict.comparison["metrics"]["accuracy"]["newcombe"]["ci95"]
    assert verdict.exit_code == 1 and drop.value == pytest.approx(-newcombe[0]) and "Newcombe" in drop.reason


def test_max_drop_on_the_bound_uses_the_bootstrap_for_other_metrics(run):
    verdict = judge({"baseline": "base", "max_drop": {"macro_f1": 0.5}, "drop_on": "ci95"}, run, "sidegrade")
    drop = check(verdict, "max_drop.macro_f1")
    assert (
        drop.value == pytest.approx(-verdict.comparison["metrics"]["macro_f1"]["ci95"][0])
        and "bootstrap" in drop.reason
    )


def test_significant_improvement_passes_when_the_one_sided_exact_p_is_below_alpha(run):
    verdict = judge({"baseline": "base", "require_significant_improvement": True}, run, "tuned")
    significance = check(verdict, "require_significant_improvement")
    assert significance.passed and significance.value == pytest.approx(1 / 2 ** 7)  # b=0, c=7


def test_a_better_but_not_significant_candidate_is_rejected(run):
    verdict = judge({"baseline": "base", "require_significant_improvement": True}, run, "slightly")
    significance = check(verdict, "require_significant_improvement")
    assert verdict.exit_code == 1 and significance.value == pytest.approx(0.25)  # b=0, c=2: one-sided
    assert "not below alpha 0.05" in significance.reason


def test_a_candidate_that_is_not_better_fails_the_significance_check(run):
    verdict = judge({"baseline": "base", "require_significant_improvement": True, "alpha": 0.99}, run, "sidegrade")
    assert "not better than the baseline" in check(verdict, "require_significant_improvement").reason


def test_unknown_cost_fails_the_cost_ceiling_with_that_reason(run):
    cost = check(judge({"max_cost_per_1k_usd": 10.0}, run, "base"), "max_cost_per_1k_usd")
    assert not cost.passed and cost.value is None and cost.reason.startswith("cost unknown")


def test_cost_per_1k_cases_under_the_ceiling_passes(run):
    cost = check(judge({"max_cost_per_1k_usd": 0.05}, run, "tuned"), "max_cost_per_1k_usd")
    assert cost.passed and cost.value == pytest.approx(0.046)  # (40 * $1 + 3 * $2) per million tokens, x 1,000 cases


def test_p95_latency_above_the_ceiling_fails(run):
    verdict = judge({"max_latency_p95_ms": 150}, run, "tuned")
    assert verdict.exit_code == 1 and check(verdict, "max_latency_p95_ms").value == 200.0


def test_floors_per_tag_and_per_label_are_decided_on_their_intervals(run):
    policy = {"min_by_tag": {"adjacent-labels": {"accuracy": 0.3}},
              "min_by_label": {"billing_dispute": {"recall": 0.5}}}
    verdict = judge(policy, run, "tuned")  # wrong on c08, c09: both adjacent-labels
    tag = check(verdict, "min_by_tag.adjacent-labels.accuracy")  # 8/10, Wilson [0.49, 0.94]
    assert tag.value == pytest.approx(0.8) and tag.status == "pass" and tag.ci95[0] > 0.3
    worse = judge({"min_by_tag": {"adjacent-labels": {"accuracy": 0.5}}}, run, "worse")  # 0/10: [0, 0.28]
    assert check(worse, "min_by_tag.adjacent-labels.accuracy").status == "fail" and worse.exit_code == 1
    assert check(verdict, "min_by_label.billing_dispute.recall").value == pytest.approx(1.0)
    assert check(verdict, "min_by_label.billing_dispute.recall").status == "pass"


def test_a_floor_whose_interval_straddles_it_is_undecided_and_a_warning(run):
    verdict = judge({"min_by_tag": {"adjacent-labels": {"accuracy": 0.9}}}, run, "tuned")
    floor = check(verdict, "min_by_tag.adjacent-labels.accuracy")
    assert floor.status == "undecided" and floor.passed and verdict.exit_code == 0
    assert verdict.to_dict()["warnings"] == [f"{floor.name}: {floor.reason}"]


def test_a_floor_on_fewer_cases_than_min_cases_is_too_few_to_decide(run):
    verdict = judge({"min_by_tag": {"adjacent-labels": {"accuracy": 0.99}}, "min_cases": 11}, run, "tuned")
    floor = check(verdict, "min_by_tag.adjacent-labels.accuracy")
    assert floor.status == "too few cases" and floor.passed and floor.reason.startswith("too few cases to decide: n=10")


def test_an_undefined_kappa_fails_its_floor_with_the_reason(tmp_path):
    cases = cases_with(["billing_dispute"] * 4)
    one_class = load_run(build_run(tmp_path, cases, {"r": {cid: "billing_dispute" for cid, _, _ in cases}}))
    floor = check(judge({"min": {"kappa": 0.5}}, one_class, "r"), "min.kappa")
    assert not floor.passed and floor.value is None
    assert floor.reason == "kappa is undefined: undefined: only one class among expected and predicted labels"


def test_the_comparison_in_the_verdict_is_compare_baseline_to_candidate(run):
    verdict = judge({"baseline": "base", "max_drop": {"accuracy": 0.0}}, run, "tuned")
    assert verdict.comparison == compare(run, "base", run, "tuned")


def test_candidate_and_baseline_default_to_the_policy(run):
    verdict = judge({"candidate": "tuned", "baseline": "base", "max_drop": {"accuracy": 0.0}}, run)
    assert verdict.candidate.endswith(":tuned") and verdict.baseline.endswith(":base")


@pytest.mark.parametrize(("policy", "message"), [
    ({"candidate": "tuned"}, "sets no checks"),
    ({"min_by_label": {"refund": {"f1": 0.5}}}, "min_by_label.refund is not a label"),
    ({"min_by_tag": {"multi-intent": {"accuracy": 0.5}}}, "min_by_tag.multi-intent: no case"),
    ({"max_drop": {"accuracy": 0.0}}, "none is set"),
    ({"baseline": "tuned", "max_drop": {"accuracy": 0.0}}, "the baseline is the candidate itself"),
])
def test_a_policy_that_does_not_fit_the_run_is_bad_input(run, policy, message):
    with pytest.raises(BadInput, match=message):
        judge(policy, run, "tuned")


def test_no_candidate_route_is_bad_input(run):
    with pytest.raises(BadInput, match="no candidate route"):
        judge({"min": {"accuracy": 0.5}}, run)


def test_a_route_with_no_rows_is_an_incomplete_run(run, tmp_path):
    copy = shutil.copytree(run.dir, tmp_path / "run")
    rows = [line for line in (copy / "results.jsonl").read_text().splitlines() if '"route": "tuned"' not in line]
    (copy / "results.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(RunIncomplete):
        judge({"min": {"accuracy": 0.5}}, load_run(copy), "tuned")


def test_unknown_policy_keys_are_errors_with_the_key_path_and_nearest_key(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("min:\n  accuracy: 0.8\nmax_drop:\n  acuracy: 0.02\n")
    with pytest.raises(BadInput) as error:
        load_policy(path)
    assert str(error.value) == f"{path}:4: unknown key 'max_drop.acuracy' (did you mean 'accuracy'?)"


def test_out_of_range_thresholds_are_errors():
    with pytest.raises(BadInput, match="min.accuracy"):
        parse_policy({"min": {"accuracy": 85}}, where="policy.yaml")


def test_the_policy_is_read_from_the_runs_suite(run):
    policy = policy_of_run(run.manifest, where="manifest.json")
    assert isinstance(policy, GatePolicy) and policy.candidate == "tuned" and policy.min.accuracy == 0.9


def test_per_tag_macro_f1_averages_over_the_labels_the_tags_cases_expect(tmp_path):
    from sklearn.metrics import f1_score

    labels = ["billing_dispute", "billing_dispute", "cancellation", "cancellation", "login_failure", "login_failure"]
    cases = cases_with(labels, [["web"]] * 4 + [["phone"]] * 2)
    answers = {"r": {"c01": "billing_dispute", "c02": "login_failure", "c03": "cancellation", "c04": "gibberish",
                     "c05": "login_failure", "c06": None}}
    run = load_run(build_run(tmp_path, cases, answers))
    verdict = judge({"min_by_tag": {"web": {"macro_f1": 0.1, "kappa": -1.0}}}, run, "r")
    rows = [r for r in run.route_rows("r") if "web" in r["tags"]]
    y_pred = [r["predicted_label"] if r.get("parsed_ok") else "__unparsed__" for r in rows]
    expected = f1_score([r["expected_label"] for r in rows], y_pred, labels=["billing_dispute", "cancellation"],
                        average="macro", zero_division=0)
    assert check(verdict, "min_by_tag.web.macro_f1").value == pytest.approx(expected)
    assert expected == pytest.approx((2 / 3 + 2 / 3) / 2)
