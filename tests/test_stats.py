"""Specification tests for evalkit.stats, pinned to published reference values."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from statistics import NormalDist

import pytest

try:
    from evalkit import stats
except ModuleNotFoundError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from evalkit import stats


# --------------------------------------------------------------------------- Wilson


# Newcombe RG (1998) "Two-sided confidence intervals for the single proportion:
# comparison of seven methods", Stat Med 17:857-872, Table I, method 3 (score, no CC).
@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998_table_i(successes, n, low, high):
    got = stats.wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_none_for_no_trials():
    assert stats.wilson_interval(0, 0) is None


def test_wilson_interval_is_exactly_zero_and_one_at_the_boundaries():
    assert stats.wilson_interval(0, 20)[0] == 0.0
    assert stats.wilson_interval(29, 29)[1] == 1.0


def test_wilson_interval_rejects_more_successes_than_trials():
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 4)


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_no_discordant_pairs_gives_p_one():
    assert stats.mcnemar(0, 0) == {"b": 0, "c": 0, "p_exact": 1.0, "p_midp": 1.0}


def test_mcnemar_equal_discordant_counts_gives_p_one():
    # 2 P(X <= 3 | 6, 1/2) = 2 * 42/64 > 1, capped; the mid-p formula gives exactly 1.
    result = stats.mcnemar(3, 3)
    assert result["p_exact"] == 1.0
    assert result["p_midp"] == 1.0


def test_mcnemar_one_sided_five_is_hand_derivable():
    # b=0, c=5: P(X <= 0) = P(X = 0) = 1/32; exact = 2/32, mid-p = 2/32 - 1/32.
    result = stats.mcnemar(0, 5)
    assert result["p_exact"] == pytest.approx(0.0625, abs=1e-12)
    assert result["p_midp"] == pytest.approx(0.03125, abs=1e-12)


def test_mcnemar_is_symmetric_in_b_and_c():
    forward, backward = stats.mcnemar(1, 4), stats.mcnemar(4, 1)
    # b=1, c=4: P(X <= 1 | 5) = 6/32, so exact = 12/32 and mid-p = 12/32 - 5/32.
    assert forward["p_exact"] == backward["p_exact"] == pytest.approx(12 / 32)
    assert forward["p_midp"] == backward["p_midp"] == pytest.approx(7 / 32)


# statsmodels, statsmodels/stats/tests/test_nonparametric.py::test_mcnemar_exact
# (values from the VassarStats online calculator), discordant counts (b, c) -> exact p.
@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (121, 59, 0.000004),
        (70, 59, 0.378688),
        (80, 59, 0.089452),
        (30, 60, 0.00206),
        (10, 30, 0.002221),
        (10, 10, 1.0),
    ],
)
def test_mcnemar_exact_matches_statsmodels_reference_values(b, c, p):
    assert stats.mcnemar(b, c)["p_exact"] == pytest.approx(p, abs=1.5e-6)


def test_mcnemar_midp_matches_fagerland_2013_worked_example():
    # Fagerland, Lydersen & Laake (2013) BMC Med Res Methodol 13:91, Bentur et al. data
    # (AHR before/after SCT): discordant 1 and 7. Exact = 2 * 9/256 = 0.0703 (0.070),
    # mid-p = 0.0703 - 8/256 = 0.0391 (0.039).
    result = stats.mcnemar(1, 7)
    assert result["p_exact"] == pytest.approx(0.0703125, abs=1e-12)
    assert result["p_midp"] == pytest.approx(0.0390625, abs=1e-12)


def test_mcnemar_matches_fagerland_textbook_cavo_example():
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables (2017),
    # ch. 8, Cavo et al. 2012 data, discordant 6 and 16, as printed by the CRAN
    # `contingencytables` tests: exact conditional P = 0.052479, mid-P = 0.034690.
    result = stats.mcnemar(6, 16)
    assert result["p_exact"] == pytest.approx(0.052479, abs=1e-6)
    assert result["p_midp"] == pytest.approx(0.034690, abs=1e-6)


# --------------------------------------------------------------------------- Newcombe paired


# Newcombe RG (1998) "Improved confidence intervals for the difference between binomial
# proportions based on paired data", Stat Med 17:2635-2650, worked examples, method 10.
# The paper's cells are (e, f, g, h) with theta = (f - g)/n; its first classification is
# our B, so e = both, f = only_b, g = only_a, h = neither. The limits are the paper's
# table of examples as transcribed by two public implementations (which label it
# Table III); they were not re-read from the primary PDF.
@pytest.mark.parametrize(
    ("e", "f", "g", "h", "low", "high"),
    [
        (36, 12, 2, 0, 0.0569, 0.3404),
        (20, 12, 2, 16, 0.0562, 0.3292),
        (36, 14, 0, 0, 0.1528, 0.4167),  # zero cell, phi = 0 (a zero margin)
        (18, 14, 0, 18, 0.1441, 0.3963),  # zero cell, phi > 0
        (0, 30, 0, 0, 0.8395, 1.0),  # upper limit at the boundary
        (54, 0, 0, 0, -0.0664, 0.0664),  # no discordant pairs
        (30, 0, 0, 24, -0.0358, 0.0358),  # exercises the n/2 correction of phi
    ],
)
def test_newcombe_paired_interval_matches_newcombe_1998_method_10(e, f, g, h, low, high):
    got = stats.newcombe_paired_interval(both=e, only_a=g, only_b=f, neither=h)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_newcombe_paired_interval_matches_fagerland_textbook_cavo_example():
    # Fagerland et al. (2017) ch. 8, Cavo et al. 2012: table [[59, 6], [16, 80]], the CRAN
    # `contingencytables` tests print -0.0621 (95% CI -0.1186 to -0.0046) for row - column.
    # Row-only successes (6) play only_b, column-only successes (16) play only_a.
    got = stats.newcombe_paired_interval(both=59, only_a=16, only_b=6, neither=80)
    assert got == pytest.approx((-0.1186, -0.0046), abs=1e-4)


def test_newcombe_paired_interval_is_for_b_minus_a():
    # B right on 12 cases A got wrong, A right on 2 cases B got wrong: B is better,
    # so the interval lies above zero; swapping the roles mirrors it.
    forward = stats.newcombe_paired_interval(both=36, only_a=2, only_b=12, neither=0)
    backward = stats.newcombe_paired_interval(both=36, only_a=12, only_b=2, neither=0)
    assert forward[0] > 0
    assert backward == pytest.approx((-forward[1], -forward[0]), abs=1e-12)


def test_newcombe_paired_interval_is_none_without_pairs():
    assert stats.newcombe_paired_interval(0, 0, 0, 0) is None


# --------------------------------------------------------------------------- kappa


def test_cohen_kappa_matches_sklearn_artstein_poesio_binary_example():
    # scikit-learn sklearn/metrics/tests/test_classification.py::test_cohen_kappa:
    # contingency [[20, 20], [10, 50]] from Artstein & Poesio (2008) Table 1 -> 0.348.
    y1 = ["0"] * 40 + ["1"] * 60
    y2 = ["0"] * 20 + ["1"] * 20 + ["0"] * 10 + ["1"] * 50
    value, reason = stats.cohen_kappa(y1, y2)
    assert value == pytest.approx(0.348, abs=5e-4)
    assert reason is None


def test_cohen_kappa_matches_sklearn_artstein_poesio_multiclass_example():
    # Same scikit-learn test, Artstein & Poesio (2008) Table 4 -> 0.8013.
    y1 = ["0"] * 46 + ["1"] * 44 + ["2"] * 10
    y2 = ["0"] * 52 + ["1"] * 32 + ["2"] * 16
    assert stats.cohen_kappa(y1, y2)[0] == pytest.approx(0.8013, abs=5e-5)


def test_cohen_kappa_ignores_rows_outside_the_given_labels():
    y1 = ["0"] * 40 + ["1"] * 60 + ["2"] * 4
    y2 = ["0"] * 20 + ["1"] * 20 + ["0"] * 10 + ["1"] * 50 + ["2"] * 4
    assert stats.cohen_kappa(y1, y2, labels=["0", "1"])[0] == pytest.approx(0.348, abs=5e-4)


def test_cohen_kappa_single_class_is_null_with_a_reason():
    value, reason = stats.cohen_kappa(["spam"] * 5, ["spam"] * 5)
    assert value is None
    assert reason.startswith("undefined")


def test_cohen_kappa_no_rows_is_null_with_a_reason():
    assert stats.cohen_kappa([], []) == (None, "no rows")


# --------------------------------------------------------------------------- power


def test_min_detectable_difference_decreases_as_n_grows():
    values = [stats.min_detectable_difference(n, 0.2) for n in (50, 100, 200, 400, 800)]
    assert all(later < earlier for earlier, later in zip(values, values[1:]))


def test_min_detectable_difference_matches_connor_by_hand():
    # Connor (1987) with psi = 0.2, delta = 0.1, alpha = 0.05 two-sided, power 0.80:
    # n = [1.95996 * sqrt(0.2) + 0.84162 * sqrt(0.2 - 0.01)]^2 / 0.01
    #   = [0.87652 + 0.36685]^2 / 0.01 = 154.6, so 155 pairs detect 0.1 and 154 do not.
    assert stats.min_detectable_difference(155, 0.2) < 0.1 < stats.min_detectable_difference(154, 0.2)


def test_min_detectable_difference_solves_the_connor_equation():
    normal = NormalDist()
    z_a, z_b = normal.inv_cdf(0.975), normal.inv_cdf(0.8)
    delta = stats.min_detectable_difference(300, 0.15)
    n = (z_a * math.sqrt(0.15) + z_b * math.sqrt(0.15 - delta**2)) ** 2 / delta**2
    assert n == pytest.approx(300, rel=1e-9)


def test_min_detectable_difference_defaults_to_the_worst_case_discordance():
    assert stats.min_detectable_difference(200) == stats.min_detectable_difference(200, 1.0)
    assert stats.min_detectable_difference(200, 0.0) == stats.min_detectable_difference(200, 1.0)
    assert stats.min_detectable_difference(200) > stats.min_detectable_difference(200, 0.3)


def test_min_detectable_difference_is_none_without_cases_or_power():
    assert stats.min_detectable_difference(0) is None
    # 10 pairs with 20% discordance: nothing up to 0.2 reaches 80% power.
    assert stats.min_detectable_difference(10, 0.2) is None


# --------------------------------------------------------------------------- percentile


def test_percentile_interpolates_linearly():
    # position (5 - 1) * 0.9 = 3.6 -> 40 + 0.6 * (50 - 40)
    assert stats.percentile([10, 20, 30, 40, 50], 90) == pytest.approx(46.0)
    assert stats.percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)


def test_percentile_of_nothing_is_none():
    assert stats.percentile([], 50) is None
