"""The summary's bootstrap counts cases alike together, with the same results as case by case."""

from __future__ import annotations

import numpy as np

from evalkit.headline import kappa_from_confusions, macro_f1_from_confusions
from evalkit.metrics import CaseCells, CaseKinds, bootstrap_cells, case_resamples, resampled_confusions

K = 5  # 3 labels and the two specials


def cells_with_repeats_and_empty_cases(seed: int = 1) -> CaseCells:
    """200 cases, mostly one row each, some with 2-3 repeats, a few with no row at all."""
    rng = np.random.default_rng(seed)
    cases, cells = [], []
    for case in range(200):
        repeats = 0 if case % 37 == 5 else (1 if case % 4 else int(rng.integers(2, 4)))
        for _ in range(repeats):
            expected = int(rng.integers(0, 3))
            predicted = expected if rng.random() < 0.7 else int(rng.integers(0, K))
            cases.append(case)
            cells.append(expected * K + predicted)
    return CaseCells(np.array(cases), np.array(cells), 200, K)


def statistic(conf):
    return np.column_stack([kappa_from_confusions(conf), macro_f1_from_confusions(conf, 3)])


def case_by_case(per_case: CaseCells):
    """The bootstrap as it was before cases were grouped: every case resampled and left out alone."""
    full = resampled_confusions(per_case, K, np.ones((1, per_case.n_cases), dtype=np.int64))
    boot = np.concatenate([statistic(resampled_confusions(per_case, K, m)) for m in case_resamples(per_case.n_cases)])
    left_out = np.ones((per_case.n_cases, per_case.n_cases), dtype=np.int64) - np.eye(per_case.n_cases, dtype=np.int64)
    return statistic(full)[0], boot, statistic(resampled_confusions(per_case, K, left_out))


def test_bootstrap_by_kinds_of_case_equals_case_by_case():
    per_case = cells_with_repeats_and_empty_cases()
    estimate, boot, jack = bootstrap_cells(per_case, K, statistic)
    want_estimate, want_boot, want_jack = case_by_case(per_case)
    np.testing.assert_array_equal(estimate, want_estimate)
    np.testing.assert_array_equal(boot, want_boot)
    np.testing.assert_array_equal(jack, want_jack)


def test_cases_with_the_same_rows_are_one_kind_whatever_their_order():
    per_case = CaseCells(np.array([0, 0, 1, 1, 2, 3]), np.array([7, 3, 3, 7, 3, 3]), 5, K)
    kinds = CaseKinds(per_case)
    assert kinds.kind.tolist() == [0, 0, 1, 1, 2]  # case 4 has no rows: a kind of its own
    assert kinds.size.tolist() == [2, 2, 1]


def test_kind_counts_add_up_the_draws_of_their_cases():
    kinds = CaseKinds(CaseCells(np.arange(4), np.array([6, 0, 6, 6]), 4, K))
    assert kinds.counts(np.array([[1, 2, 0, 1], [0, 0, 4, 0]])).tolist() == [[2, 2], [4, 0]]
