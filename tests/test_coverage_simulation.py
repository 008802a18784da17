"""A small, seeded run of benchmarks/coverage.py: a regression in an interval or the gate fails here.

The full measurement (2,000 suites per cell) is in the README; this one runs 40 suites of 46
cases, so its thresholds sit below the targets by the simulation's own noise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.coverage import measure_cell, measure_repeats, true_values  # noqa: E402


@pytest.fixture(scope="module")
def equal_routes():
    return measure_cell(46, 0.0, suites=40, seed=15, n_boot=300)


@pytest.mark.parametrize("interval", ["accuracy (Wilson)", "kappa (bootstrap)", "macro-F1 (bootstrap)",
                                      "paired accuracy difference (Newcombe)", "paired kappa difference (bootstrap)",
                                      "paired macro-F1 difference (bootstrap)"])
def test_intervals_cover_in_a_small_seeded_simulation(equal_routes, interval):
    assert equal_routes["coverage"][interval] >= 0.85


def test_the_significance_gate_rarely_approves_an_equal_candidate(equal_routes):
    assert equal_routes["approval"]["require_significant_improvement (alpha 0.05, one-sided exact)"] <= 0.10


def test_accuracy_with_repeats_counts_cases_and_covers():
    assert measure_repeats(46, suites=40, seed=15) >= 0.85


def test_true_macro_f1_of_a_perfect_route_is_one():
    assert true_values(1.0)["macro_f1"] == pytest.approx(1.0) and true_values(1.0)["kappa"] == pytest.approx(1.0)
