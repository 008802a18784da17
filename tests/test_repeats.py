"""Repeats: self-agreement, flip rate, majority vote and accuracy spread; repeats are clusters in compare."""

from __future__ import annotations

import json

import pytest

from evalkit.compare import compare
from evalkit.repeats import majority_answer
from evalkit.store import load_run
from recorded_runs import build_run, cases_with

CASES = cases_with(["billing_dispute", "cancellation", "login_failure", "cancellation", "billing_dispute"])
THREE_ANSWERS = {
    "c01": ["billing_dispute"] * 3,                                  # stable and right
    "c02": ["cancellation", "no idea", "cancellation"],              # unparsed once: disagrees, flips, majority right
    "c03": ["billing_dispute", "cancellation", "billing_dispute"],   # disagrees but always wrong: no flip
    "c04": ["cancellation", "login_failure", "billing_dispute"],     # three different answers: a tie, counted wrong
    "c05": [None, None, "billing_dispute"],                          # two error rows: majority is the error
}


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    steady = {cid: label for cid, label, _ in CASES}
    run_dir = build_run(
        tmp_path_factory.mktemp("repeats"), CASES, {"noisy": THREE_ANSWERS, "steady": steady}, repeats=3
    )
    return load_run(run_dir)


def test_majority_answer_is_the_strict_plurality():
    assert majority_answer(["a", "b", "a"]) == "a"
    assert majority_answer(["a", "b", "c"]) is None
    assert majority_answer(["a", "b"]) is None


def test_summary_reports_repeats_per_route(repeated):
    repeats = repeated.summary["routes"]["noisy"]["repeats"]
    assert repeats["n_repeats"] == 3 and repeats["n_cases"] == 5


def test_self_agreement_counts_unparsed_and_errors_as_answers_of_their_own(repeated):
    agreement = repeated.summary["routes"]["noisy"]["repeats"]["self_agreement"]
    assert agreement == {"value": 1 / 5, "n": 5}


def test_flip_rate_is_the_share_of_cases_both_right_and_wrong_across_repeats(repeated):
    assert repeated.summary["routes"]["noisy"]["repeats"]["flip_rate"]["value"] == pytest.approx(3 / 5)


def test_majority_vote_accuracy_counts_a_tie_as_wrong(repeated):
    repeats = repeated.summary["routes"]["noisy"]["repeats"]
    assert repeats["majority_accuracy"]["value"] == pytest.approx(2 / 5)
    assert repeats["majority_ties"] == 1


def test_accuracy_spread_across_repeats(repeated):
    spread = repeated.summary["routes"]["noisy"]["repeats"]["accuracy_by_repeat"]
    assert spread["values"] == pytest.approx([3 / 5, 1 / 5, 3 / 5])
    assert (spread["min"], spread["max"]) == pytest.approx((0.2, 0.6))
    assert spread["std"] == pytest.approx(0.2309401, abs=1e-6)  # sample std of 0.6, 0.2, 0.6


def test_a_stable_route_agrees_with_itself_and_never_flips(repeated):
    repeats = repeated.summary["routes"]["steady"]["repeats"]
    assert repeats["self_agreement"]["value"] == 1.0 and repeats["flip_rate"]["value"] == 0.0
    assert repeats["accuracy_by_repeat"]["std"] == 0.0


def test_summary_has_no_repeats_block_without_repeats(tmp_path):
    run = load_run(build_run(tmp_path, CASES, {"once": {cid: label for cid, label, _ in CASES}}))
    assert "repeats" not in run.summary["routes"]["once"]
    assert "repeats" not in json.loads((run.dir / "summary.json").read_text())["routes"]["once"]


def test_compare_counts_cases_not_rows(repeated):
    result = compare(repeated, "noisy", repeated, "steady")
    assert result["n_paired"] == 5 and result["mcnemar"]["n"] == 5
    assert all(entry["n"] == 5 for entry in result["metrics"].values())
    assert result["repeats"] == {"a": 3, "b": 3}


def test_compare_pairs_per_call_accuracy_by_case(repeated):
    result = compare(repeated, "noisy", repeated, "steady")
    # noisy is right on 3, 2, 0, 1 and 1 of the three calls of c01..c05; steady always
    assert (result["mcnemar"]["b"], result["mcnemar"]["c"]) == (0, 4)
    assert result["flips"]["fixed"] == ["c02", "c03", "c04", "c05"]
    assert result["metrics"]["accuracy"]["newcombe"]["delta"] == pytest.approx((0 + 1 / 3 + 1 + 2 / 3 + 2 / 3) / 5)


def test_the_delta_and_its_test_are_one_estimand(repeated):
    result = compare(repeated, "noisy", repeated, "steady")
    summaries = repeated.summary["routes"]
    per_call = summaries["steady"]["accuracy"]["value"] - summaries["noisy"]["accuracy"]["value"]
    assert result["metrics"]["accuracy"]["delta"] == pytest.approx(per_call)
    assert result["metrics"]["accuracy"]["newcombe"]["delta"] == pytest.approx(per_call)
    assert result["mcnemar"]["on"] == "per-call correctness, paired by case"


def test_majority_vote_is_reported_apart_as_self_consistency(repeated):
    result = compare(repeated, "noisy", repeated, "steady")
    # noisy's majority is right on c01 and c02 only; steady is always right
    vote = result["self_consistency"]["mcnemar"]
    assert (vote["b"], vote["c"]) == (0, 3)
    assert result["self_consistency"]["majority_accuracy"]["a"]["value"] == pytest.approx(2 / 5)


def test_identical_repeats_do_not_narrow_the_intervals(tmp_path):
    # The bootstrap resamples cases: three identical answers per case must give exactly the
    # intervals of one answer per case (resampling rows would make them narrower).
    a = {cid: ("cancellation" if i < 3 else label) for i, (cid, label, _) in enumerate(CASES)}
    b = {cid: label for cid, label, _ in CASES}
    once = load_run(build_run(tmp_path / "once", CASES, {"a": a, "b": b}))
    thrice = load_run(build_run(tmp_path / "thrice", CASES, {"a": a, "b": b}, repeats=3))
    one, three = compare(once, "a", once, "b"), compare(thrice, "a", thrice, "b")
    assert one["metrics"]["accuracy"]["ci95"][0] < one["metrics"]["accuracy"]["ci95"][1]
    for metric in ("accuracy", "kappa", "macro_f1"):
        assert three["metrics"][metric]["ci95"] == pytest.approx(one["metrics"][metric]["ci95"])
    assert three["mcnemar"] == one["mcnemar"]


def test_with_repeats_n_is_the_number_of_cases_everywhere_in_the_summary(repeated):
    summary = repeated.summary["routes"]["noisy"]
    assert summary["n"] == 5 and summary["n_rows"] == 15
    assert summary["accuracy"]["n"] == summary["kappa"]["n"] == summary["macro_f1"]["n"] == 5
    assert all(tag["n"] <= 5 for tag in summary["by_tag"].values())


def test_with_repeats_accuracy_is_the_per_call_mean(repeated):
    accuracy = repeated.summary["routes"]["noisy"]["accuracy"]
    assert accuracy["value"] == pytest.approx((3 + 2 + 0 + 1 + 1) / 15)
