"""A stored run as pandas DataFrames: the rows and the summary's figures, nothing recomputed."""

from __future__ import annotations

import pytest

import evalkit
from conftest import HOLDOUT
from evalkit.errors import BadInput
from evalkit.runner import RunOptions, run_suite


@pytest.fixture
def run_dir(make_suite, tmp_path):
    return run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False)).run_dir


def test_results_frame_has_one_row_per_result_with_the_case_input(run_dir):
    frame = evalkit.results_frame(run_dir)
    assert len(frame) == len(HOLDOUT)
    assert set(frame["case_id"]) == {case["id"] for case in HOLDOUT}
    assert frame["input"].notna().all() and frame["run_id"].nunique() == 1


def test_accuracy_grouped_from_the_results_frame_equals_the_summary(run_dir):
    frame = evalkit.results_frame(run_dir)
    metrics = evalkit.metrics_frame(run_dir).set_index(["route", "metric"])
    by_route = frame.groupby("route")["correct"].mean()
    assert by_route["base"] == pytest.approx(metrics.loc[("base", "accuracy"), "value"])


def test_metrics_frame_carries_interval_and_n_for_every_rate(run_dir):
    metrics = evalkit.metrics_frame(run_dir)
    assert set(metrics["metric"]) == {"parse_rate", "accuracy", "kappa", "macro_f1"}
    accuracy = metrics[metrics["metric"] == "accuracy"].iloc[0]
    assert accuracy["ci95_low"] <= accuracy["value"] <= accuracy["ci95_high"] and accuracy["n"] == len(HOLDOUT)


def test_metrics_frame_of_a_run_without_summary_says_how_to_write_it(run_dir):
    (run_dir / "summary.json").unlink()
    with pytest.raises(BadInput, match="evalkit score"):
        evalkit.metrics_frame(run_dir)
