"""compare(): two routes paired by case id, checked against published values and sklearn."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from evalkit.compare import compare
from evalkit.errors import BadInput
from evalkit.metrics import predicted_value
from evalkit.stats import newcombe_paired_interval
from evalkit.store import load_run
from recorded_runs import LABELS, build_run, cases_with


def wrong(label: str) -> str:
    return LABELS[(LABELS.index(label) + 1) % len(LABELS)]


def paired_outcomes(both: int, only_a: int, only_b: int, neither: int):
    """Cases and answers for routes a and b with the given 2x2 table of correctness."""
    outcomes = [(True, True)] * both + [(True, False)] * only_a + [(False, True)] * only_b + [(False, False)] * neither
    cases = cases_with([LABELS[i % 3] for i in range(len(outcomes))])
    answers = {"a": {}, "b": {}}
    for (case_id, label, _), (a_right, b_right) in zip(cases, outcomes):
        answers["a"][case_id] = label if a_right else wrong(label)
        answers["b"][case_id] = label if b_right else wrong(label)
    return cases, answers


@pytest.fixture(scope="module")
def cavo(tmp_path_factory):
    """Fagerland, Lydersen & Laake (2017) ch. 8, Cavo et al. 2012: [[59, 6], [16, 80]].
    Route b plays the row classification, route a the column one."""
    cases, answers = paired_outcomes(both=59, only_a=16, only_b=6, neither=80)
    run = load_run(build_run(tmp_path_factory.mktemp("cavo"), cases, answers))
    return compare(run, "a", run, "b")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """30 tagged cases; b fixes seven of a's mistakes, breaks one, and has one unparsed and one error row."""
    labels = [LABELS[i % 3] for i in range(30)]
    tags = [["adjacent-labels"] if i % 2 else ["easy"] for i in range(30)]
    cases = cases_with(labels, tags)
    a = {cid: (wrong(label) if i < 9 else label) for i, (cid, label, _) in enumerate(cases)}
    b = {cid: (wrong(label) if i in (7, 8, 20) else label) for i, (cid, label, _) in enumerate(cases)}
    b["c09"], b["c10"] = "no idea", None  # unparsed; an error row (the recorded call gave no output)
    run = load_run(build_run(tmp_path_factory.mktemp("mixed"), cases, {"a": a, "b": b}))
    return run, compare(run, "a", run, "b")


def test_the_json_object_has_the_documented_top_level_keys(mixed):
    _, result = mixed
    required = {"a", "b", "n_paired", "metrics", "mcnemar", "flips", "per_class", "confusion_shifts", "by_tag",
                "latency_ms", "tokens", "cost_usd", "warnings"}
    assert required <= set(result)
    assert set(result["metrics"]) == {"accuracy", "parse_rate", "kappa", "macro_f1"}
    assert all({"a", "b", "delta", "ci95"} <= set(entry) for entry in result["metrics"].values())


def test_mcnemar_matches_the_published_cavo_values(cavo):
    # CRAN `contingencytables` tests: exact conditional P = 0.052479, mid-P = 0.034690.
    assert cavo["mcnemar"]["b"] == 16 and cavo["mcnemar"]["c"] == 6
    assert cavo["mcnemar"]["p_exact"] == pytest.approx(0.052479, abs=1e-6)
    assert cavo["mcnemar"]["p_midp"] == pytest.approx(0.034690, abs=1e-6)


def test_accuracy_delta_has_the_published_newcombe_interval(cavo):
    # Same source: -0.0621 (95% CI -0.1186 to -0.0046) for row minus column, here b minus a.
    newcombe = cavo["metrics"]["accuracy"]["newcombe"]
    assert newcombe["delta"] == pytest.approx(-0.0621, abs=1e-4)
    assert newcombe["ci95"] == pytest.approx([-0.1186, -0.0046], abs=1e-4)


def test_mcnemar_matches_the_fagerland_2013_bentur_example(tmp_path):
    # Fagerland, Lydersen & Laake (2013) BMC Med Res Methodol 13:91: discordant 1 and 7,
    # exact conditional p = 0.070, mid-p = 0.039.
    cases, answers = paired_outcomes(both=12, only_a=1, only_b=7, neither=1)
    run = load_run(build_run(tmp_path, cases, answers))
    mcnemar = compare(run, "a", run, "b")["mcnemar"]
    assert (mcnemar["b"], mcnemar["c"]) == (1, 7)
    assert mcnemar["p_exact"] == pytest.approx(18 / 256) and round(mcnemar["p_exact"], 3) == 0.070
    assert mcnemar["p_midp"] == pytest.approx(10 / 256) and round(mcnemar["p_midp"], 3) == 0.039


def test_no_discordant_pairs_gives_p_one(tmp_path):
    cases, answers = paired_outcomes(both=8, only_a=0, only_b=0, neither=4)
    run = load_run(build_run(tmp_path, cases, answers))
    mcnemar = compare(run, "a", run, "b")["mcnemar"]
    assert (mcnemar["b"], mcnemar["c"], mcnemar["p_exact"], mcnemar["p_midp"]) == (0, 0, 1.0, 1.0)


def test_flips_list_the_cases_b_fixed_and_broke(mixed):
    _, result = mixed
    assert result["flips"]["fixed"] == ["c01", "c02", "c03", "c04", "c05", "c06", "c07"]
    assert result["flips"]["broken"] == ["c10", "c21"]


def test_kappa_and_macro_f1_of_each_side_equal_sklearn(mixed):
    run, result = mixed
    for side in ("a", "b"):
        rows = run.route_rows(side)
        y_true = [r["expected_label"] for r in rows]
        y_pred = [predicted_value(r) for r in rows]
        assert result["metrics"]["kappa"][side] == pytest.approx(cohen_kappa_score(y_true, y_pred))
        assert result["metrics"]["macro_f1"][side] == pytest.approx(
            f1_score(y_true, y_pred, labels=LABELS, average="macro", zero_division=0))
    kappa = result["metrics"]["kappa"]
    assert kappa["delta"] == pytest.approx(kappa["b"] - kappa["a"])


def test_accuracy_and_parse_rate_count_unparsed_and_error_rows_as_design_says(mixed):
    _, result = mixed
    assert result["metrics"]["accuracy"]["a"] == pytest.approx(21 / 30)
    assert result["metrics"]["accuracy"]["b"] == pytest.approx(26 / 30)  # wrong: c08, c21, c09 unparsed, c10 error
    assert result["metrics"]["parse_rate"]["b"] == pytest.approx(28 / 29)  # the error row has no output


@pytest.mark.parametrize("metric", ["accuracy", "parse_rate", "kappa", "macro_f1"])
def test_bootstrap_interval_contains_the_observed_delta(mixed, metric):
    _, result = mixed
    entry = result["metrics"][metric]
    assert entry["ci95"][0] <= entry["delta"] <= entry["ci95"][1]


def test_bootstrap_is_paired_so_a_route_against_its_own_copy_has_a_zero_width_interval(tmp_path):
    cases, answers = paired_outcomes(both=10, only_a=5, only_b=5, neither=10)
    answers["b"] = dict(answers["a"])
    run = load_run(build_run(tmp_path, cases, answers))
    result = compare(run, "a", run, "b")
    for metric in ("accuracy", "kappa", "macro_f1"):
        assert result["metrics"][metric]["ci95"] == [0.0, 0.0]


def test_bootstrap_is_deterministic_for_a_seed(mixed):
    run, result = mixed
    again = compare(run, "a", run, "b", seed=0)
    other = compare(run, "a", run, "b", seed=1)
    assert again["metrics"] == result["metrics"]
    # the seed moves the bootstrap; where the jackknife bound is the wider one it does not show
    assert any(other["metrics"][m]["ci95"] != result["metrics"][m]["ci95"] for m in ("accuracy", "kappa", "macro_f1"))


def test_newcombe_interval_is_computed_on_the_paired_table(mixed):
    _, result = mixed
    newcombe = result["metrics"]["accuracy"]["newcombe"]
    table = newcombe["table"]
    assert table == {"both": 19, "only_a": 2, "only_b": 7, "neither": 2}
    assert newcombe["ci95"] == pytest.approx(list(newcombe_paired_interval(**table)))


def test_kappa_with_one_class_is_null_with_its_reason(tmp_path):
    cases = cases_with(["billing_dispute"] * 6)
    answers = {"a": {cid: "billing_dispute" for cid, _, _ in cases},
               "b": {cid: ("cancellation" if i < 2 else "billing_dispute") for i, (cid, _, _) in enumerate(cases)}}
    run = load_run(build_run(tmp_path, cases, answers))
    kappa = compare(run, "a", run, "b")["metrics"]["kappa"]
    assert kappa["a"] is None and kappa["delta"] is None and kappa["ci95"] is None
    assert "a: undefined: only one class" in kappa["reason"]


def test_unmatched_ids_are_warned_about_by_name_never_silently_dropped(tmp_path):
    cases = cases_with(["billing_dispute", "cancellation", "login_failure", "cancellation"])
    first = load_run(build_run(tmp_path / "one", cases, {"r": {c: label for c, label, _ in cases}}))
    second = load_run(build_run(tmp_path / "two", cases[:3] + [("c99", "login_failure", [])],
                                {"r": {c: label for c, label, _ in cases[:3]} | {"c99": "login_failure"}}))
    result = compare(first, "r", second, "r")
    assert result["n_paired"] == 3
    assert result["unmatched"] == {"only_a": ["c04"], "only_b": ["c99"]}
    assert any("only in A: c04" in w and "only in B: c99" in w for w in result["warnings"])


def test_small_n_warns_with_the_minimum_detectable_difference(mixed):
    _, result = mixed
    mde = result["mde"]
    assert abs(mde["observed"]) < mde["value"]
    assert any(f"{mde['value']:.3f}" in w and "detectable" in w for w in result["warnings"])


def test_no_detectability_warning_when_the_difference_is_large(tmp_path):
    cases, answers = paired_outcomes(both=5, only_a=0, only_b=25, neither=0)
    run = load_run(build_run(tmp_path, cases, answers))
    result = compare(run, "a", run, "b")
    assert not any("detectable" in w for w in result["warnings"])


def test_per_class_f1_deltas_and_confusion_shifts(mixed):
    _, result = mixed
    assert result["per_class"]["billing_dispute"]["delta"] == pytest.approx(
        result["per_class"]["billing_dispute"]["b"] - result["per_class"]["billing_dispute"]["a"])
    shifts = result["confusion_shifts"]
    assert all(s["expected"] != s["predicted"] and s["delta"] == s["b"] - s["a"] != 0 for s in shifts)
    assert [abs(s["delta"]) for s in shifts] == sorted((abs(s["delta"]) for s in shifts), reverse=True)
    assert {"expected": "billing_dispute", "predicted": "__error__", "a": 0, "b": 1, "delta": 1} in shifts  # c10


def test_by_tag_reports_each_side_and_the_flips_inside_the_tag(mixed):
    _, result = mixed
    easy = result["by_tag"]["easy"]  # c01, c03, ... (odd ids)
    assert easy["n"] == 15 and easy["fixed"] == 4 and easy["broken"] == 1
    assert easy["accuracy"]["delta"] == pytest.approx(easy["accuracy"]["b"] - easy["accuracy"]["a"])


def test_latency_tokens_and_cost_per_1k_each_side_and_delta(tmp_path):
    cases, answers = paired_outcomes(both=4, only_a=0, only_b=0, neither=0)
    pricing = {"replay:a.jsonl": {"input": 1.0, "output": 2.0}, "replay:b.jsonl": {"input": 3.0, "output": 2.0}}
    run = load_run(build_run(tmp_path, cases, answers, pricing=pricing, latency_ms={"a": 200.0, "b": 500.0}))
    result = compare(run, "a", run, "b")
    assert result["latency_ms"]["p95"] == {"a": 200.0, "b": 500.0, "delta": 300.0}
    # 40 input and 3 output tokens per case: (40*1 + 3*2)/1e6 and (40*3 + 3*2)/1e6 USD, times 1,000
    assert result["cost_usd"]["per_1k"]["a"] == pytest.approx(0.046)
    assert result["cost_usd"]["per_1k"]["delta"] == pytest.approx(0.126 - 0.046)


def test_unknown_cost_is_null_with_a_warning(mixed):
    _, result = mixed
    assert result["cost_usd"]["per_1k"]["delta"] is None
    assert any("cost of A" in w and "unknown" in w for w in result["warnings"])


def test_runs_with_different_label_sets_do_not_compare(tmp_path):
    cases = cases_with(["billing_dispute", "cancellation"])
    first = load_run(build_run(tmp_path / "one", cases, {"r": {"c01": "billing_dispute", "c02": "cancellation"}}))
    second = load_run(build_run(tmp_path / "two", cases, {"r": {"c01": "billing_dispute", "c02": "cancellation"}},
                                labels=["billing_dispute", "cancellation", "other"]))
    with pytest.raises(BadInput, match="different label sets"):
        compare(first, "r", second, "r")


def test_an_unknown_route_is_bad_input(mixed):
    run, _ = mixed
    with pytest.raises(BadInput, match="route 'nope' is not in this run"):
        compare(run, "a", run, "nope")


def test_too_few_cases_warn_that_no_difference_is_detectable(tmp_path):
    cases, answers = paired_outcomes(both=8, only_a=1, only_b=1, neither=2)
    run = load_run(build_run(tmp_path, cases, answers))
    result = compare(run, "a", run, "b")
    assert result["mde"]["value"] is None
    assert any("no accuracy difference is detectable" in w for w in result["warnings"])
