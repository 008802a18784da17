"""The bootstrap's statistic (kappa, macro-F1 and each label's F1 from one pass of sums)
gives exactly the values of the three separate definitions, undefined cases included."""

from __future__ import annotations

import numpy as np

from evalkit.metrics import (
    f1_from_confusions,
    kappa_from_confusions,
    kappa_macro_f1_and_f1,
    macro_f1_from_confusions,
)


def _separately(conf, n_labels):
    return np.column_stack(
        [kappa_from_confusions(conf), macro_f1_from_confusions(conf, n_labels), f1_from_confusions(conf, n_labels)]
    )


def test_one_pass_statistic_equals_the_three_definitions_bit_for_bit():
    rng = np.random.default_rng(7)
    n_labels, k = 6, 8  # two special classes (unparsed, error) after the labels
    conf = rng.poisson(3.0, size=(200, k, k)).astype(float)
    conf[:, 2, :] = 0  # a label no case expects
    conf[:, :, 4] = 0  # a label never predicted
    conf[5] = 0
    conf[5, 1, 1] = 9  # one label, always right: chance agreement 1, kappa undefined
    conf[6] = np.diag(rng.integers(1, 5, size=k)).astype(float)  # every answer right
    conf[7, :, n_labels:] = 40  # mostly unparsed or errors
    assert np.array_equal(kappa_macro_f1_and_f1(conf, n_labels), _separately(conf, n_labels), equal_nan=True)


def test_one_pass_statistic_of_a_single_matrix_has_one_row():
    conf = np.array([[[3.0, 1.0, 0.0], [2.0, 4.0, 1.0], [0.0, 0.0, 0.0]]])
    result = kappa_macro_f1_and_f1(conf, 2)
    assert result.shape == (1, 4)
    assert np.array_equal(result, _separately(conf, 2), equal_nan=True)
