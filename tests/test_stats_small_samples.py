"""The statistics evalkit uses on 30 to 50 cases: BCa and its widening, clustered rates, the
exact paired test, its power, and the gate's approval probabilities; checked against scipy,
scikit-learn, brute force and simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest

from evalkit import stats
from evalkit.metrics import macro_f1_from_confusions


def test_bca_interval_contains_its_estimate_even_when_every_resample_is_above_it():
    ci = stats.bca_interval(0.3, np.linspace(0.4, 0.6, 200), np.full(10, 0.3))
    assert ci[0] <= 0.3 <= ci[1]


def test_bca_interval_of_a_mean_matches_scipy_bca():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=40)
    draws = rng.integers(0, x.size, size=(100000, x.size))
    jack = (x.sum() - x) / (x.size - 1)
    ours = stats.bca_interval(float(x.mean()), x[draws].mean(axis=1), jack)
    theirs = pytest.importorskip("scipy.stats").bootstrap(
        (x,), np.mean, method="BCa", n_resamples=100000, random_state=2
    )
    assert ours == pytest.approx([theirs.confidence_interval.low, theirs.confidence_interval.high], abs=0.01)


def test_bootstrap_interval_is_at_least_the_jackknife_normal_interval():
    jack = np.array([0.1, 0.5, 0.3, 0.9, 0.2])
    se = stats.jackknife_se(jack)
    ci = stats.bootstrap_interval(0.4, np.full(100, 0.4), jack)
    assert ci[0] <= 0.4 - 1.959 * se and ci[1] >= 0.4 + 1.959 * se


def test_bootstrap_interval_is_clipped_to_the_statistics_range():
    ci = stats.bootstrap_interval(0.95, np.linspace(0.9, 1.0, 100), np.array([0.5, 1.0, 1.0, 1.0]), bounds=(0.0, 1.0))
    assert ci[1] == 1.0


def test_jackknife_se_of_a_mean_is_the_standard_error():
    x = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    jack = (x.sum() - x) / (x.size - 1)
    assert stats.jackknife_se(jack) == pytest.approx(x.std(ddof=1) / np.sqrt(x.size))


def test_clustered_rate_with_one_call_per_case_is_wilson():
    rate = stats.clustered_rate([1, 0, 1, 1, 0, 1], [1] * 6)
    assert rate["ci95"] == pytest.approx(list(stats.wilson_interval(4, 6))) and rate["n"] == 6


def test_clustered_rate_with_identical_repeats_is_wilson_on_the_cases():
    rate = stats.clustered_rate([3, 0, 3, 3, 0, 3], [3] * 6)
    assert rate["ci95"] == pytest.approx(list(stats.wilson_interval(4, 6))) and rate["n"] == 6


def test_clustered_rate_with_independent_repeats_is_narrower_than_on_the_cases():
    rate = stats.clustered_rate([2, 1, 2, 1, 2, 1, 2, 1], [3] * 8)
    on_cases = stats.wilson_interval(4, 8)
    assert rate["value"] == pytest.approx(0.5) and rate["ci95"][1] - rate["ci95"][0] < on_cases[1] - on_cases[0]


@pytest.mark.parametrize(("b", "c"), [(0, 7), (3, 9), (5, 2), (4, 4), (1, 12)])
def test_sign_flip_test_on_single_calls_is_mcnemar(b, c):
    n = b + c + 5
    correct_a = [1] * b + [0] * c + [1] * 5
    correct_b = [0] * b + [1] * c + [1] * 5
    test = stats.paired_sign_flip(correct_a, [1] * n, correct_b, [1] * n)
    reference = stats.mcnemar(b, c)
    assert test["p_exact"] == pytest.approx(reference["p_exact"]) and test["p_midp"] == pytest.approx(
        reference["p_midp"]
    )
    assert test["p_greater"] == pytest.approx(binomtest(c, b + c, 0.5, alternative="greater").pvalue if b + c else 1.0)


def test_sign_flip_test_with_repeats_matches_brute_force_enumeration():
    correct_a, correct_b = [2, 0, 3, 1, 1], [3, 2, 1, 1, 3]
    d = [(cb - ca) / 3 for ca, cb in zip(correct_a, correct_b)]
    observed = sum(d)
    totals = [sum(s * abs(x) for s, x in zip(signs, d)) for signs in itertools.product((-1, 1), repeat=len(d))]
    brute = sum(t >= observed - 1e-12 for t in totals) / len(totals)
    test = stats.paired_sign_flip(correct_a, [3] * 5, correct_b, [3] * 5)
    assert test["p_greater"] == pytest.approx(brute) and test["delta"] == pytest.approx(observed / 5)


@pytest.mark.parametrize("n", [30, 46, 100])
@pytest.mark.parametrize("p_discordant", [0.1, 0.2, 0.4])
def test_one_sided_exact_test_approves_equal_routes_at_most_alpha_of_the_time(n, p_discordant):
    assert stats.significance_power(n, p_discordant, 0.0, alpha=0.05) <= 0.05


def test_significance_power_matches_a_seeded_simulation():
    rng = np.random.default_rng(3)
    n, psi, delta = 46, 0.3, 0.15
    cells = rng.multinomial(n, [1 - psi, (psi - delta) / 2, (psi + delta) / 2], size=20000)
    simulated = np.mean(stats.one_sided_exact_p(cells[:, 1], cells[:, 2]) < 0.05)
    assert stats.significance_power(n, psi, delta) == pytest.approx(simulated, abs=0.015)


def test_smallest_detectable_difference_reaches_the_power_it_claims():
    delta, _ = stats.smallest_detectable_difference(46, 0.2)
    assert stats.significance_power(46, 0.2, delta) >= 0.80 > stats.significance_power(46, 0.2, delta - 0.002)


def test_smallest_detectable_difference_cannot_be_estimated_without_discordant_pairs():
    delta, reason = stats.smallest_detectable_difference(46, 0.0)
    assert delta is None and reason.startswith("cannot be estimated")


def test_approval_probability_is_exact_over_tables_and_agrees_with_simulation():
    exact = stats.approval_probability(40, -0.05, 0.2, 0.75, margin=0.0, drop_on="point")
    rng = np.random.default_rng(4)
    tables = rng.multinomial(40, [0.75 - 0.125, 0.125, 0.075, 1 - 0.75 - 0.075], size=20000)
    simulated = np.mean(tables[:, 2] - tables[:, 1] >= 0)
    assert exact == pytest.approx(simulated, abs=0.015)


def test_deciding_non_inferiority_on_the_interval_rarely_approves_a_worse_candidate():
    on_point = stats.approval_probability(46, -0.05, 0.2, 0.8, margin=0.0, drop_on="point")
    on_interval = stats.approval_probability(46, -0.05, 0.2, 0.8, margin=0.0, drop_on="ci95")
    assert on_interval <= 0.025 < 0.2 < on_point


def test_macro_f1_averages_over_the_labels_that_occur_among_expected_answers():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = ["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "c"]
    labels = ["a", "b", "c", "d"]
    conf = np.zeros((1, 6, 6))
    for t, p in zip(y_true, y_pred):
        conf[0, labels.index(t), labels.index(p)] += 1
    expected = sklearn_metrics.f1_score(y_true, y_pred, labels=["a", "b"], average="macro", zero_division=0)
    assert macro_f1_from_confusions(conf, 4)[0] == pytest.approx(expected)


def test_newcombe_arrays_match_the_scalar_interval():
    low, high = stats.newcombe_arrays(np.array([20, 3]), np.array([3, 0]), np.array([5, 2]), np.array([18, 1]))
    assert [low[0], high[0]] == pytest.approx(list(stats.newcombe_paired_interval(20, 3, 5, 18)))
    assert [low[1], high[1]] == pytest.approx(list(stats.newcombe_paired_interval(3, 0, 2, 1)))


def test_statsmodels_agrees_on_the_exact_mcnemar_p_when_installed():
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    test = stats.paired_sign_flip([1] * 3 + [0] * 9 + [1] * 4, [1] * 16, [0] * 3 + [1] * 9 + [1] * 4, [1] * 16)
    assert test["p_exact"] == pytest.approx(contingency.mcnemar([[4, 3], [9, 0]], exact=True).pvalue)


def test_kappa_interval_of_a_route_right_on_every_case_does_not_collapse_on_its_estimate():
    from evalkit.metrics import headline_entries

    labels = ["a", "b", "c"]
    rows = [{"case_id": f"c{i}", "expected_label": labels[i % 3], "predicted_label": labels[i % 3], "parsed_ok": True,
             "correct": True} for i in range(30)]
    kappa_ci = headline_entries(rows, labels, n_boot=200)[0]["kappa"]["ci95"]
    wilson_low = stats.wilson_interval(30, 30)[0]
    assert kappa_ci[1] == 1.0 and kappa_ci[0] == pytest.approx((wilson_low - 1 / 3) / (1 - 1 / 3))
