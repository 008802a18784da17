"""summary.json agrees with scikit-learn recomputed from results.jsonl."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from conftest import LABELS, make_case
from evalkit.metrics import ERROR, UNPARSED, kappa_from_confusions, macro_f1_from_confusions
from evalkit.providers import ProviderError
from evalkit.providers.mock import script
from evalkit.runner import RunOptions, run_suite


def noisy_model(request):
    """Right about 60% of the time; otherwise a wrong label, broken JSON or a failed call."""
    rng = random.Random(request.case_id)
    roll = rng.random()
    if roll < 0.6:
        return json.dumps({"label": request.case.expected})
    if roll < 0.8:
        return json.dumps({"label": rng.choice(LABELS)})
    if roll < 0.9:
        return "{not json"
    raise ProviderError("server_error", "simulated 500")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    import yaml

    from conftest import TRAIN

    folder = tmp_path_factory.mktemp("suite")
    rng = random.Random(3)
    holdout = [make_case(f"h{i}", rng.choice(LABELS), f"ticket number {i}") for i in range(120)]
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in TRAIN + holdout))
    (folder / "suite.yaml").write_text(yaml.safe_dump({
        "name": "noisy", "cases": "cases.jsonl",
        "task": {"labels": LABELS, "label_field": "label"},
        "routes": {"noisy": {"kind": "base", "model": "mock:noisy"}},
    }))
    script("noisy", noisy_model)
    result = run_suite(folder / "suite.yaml", RunOptions(out=folder / "run", progress=False, max_error_rate=1.0))
    rows = [json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]
    summary = json.loads((result.run_dir / "summary.json").read_text())["routes"]["noisy"]
    truth = [r["expected_label"] for r in rows]
    predicted = [ERROR if r["error"] else (r["predicted_label"] if r["parsed_ok"] else UNPARSED) for r in rows]
    return summary, truth, predicted


def test_accuracy_equals_sklearn(stored):
    summary, truth, predicted = stored
    assert summary["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted))


def test_kappa_equals_sklearn(stored):
    summary, truth, predicted = stored
    assert summary["kappa"]["value"] == pytest.approx(cohen_kappa_score(truth, predicted))


def test_macro_f1_equals_sklearn_over_the_suite_labels(stored):
    summary, truth, predicted = stored
    assert summary["macro_f1"]["value"] == pytest.approx(
        f1_score(truth, predicted, labels=LABELS, average="macro", zero_division=0))


def test_confusion_counts_equal_sklearn(stored):
    summary, truth, predicted = stored
    columns = LABELS + [UNPARSED, ERROR]
    full = confusion_matrix(truth, predicted, labels=columns)
    assert summary["confusion"]["matrix"] == full[: len(LABELS)].tolist()


def test_the_noisy_model_produced_every_kind_of_row(stored):
    summary, _, predicted = stored
    assert summary["errors"] > 0 and UNPARSED in predicted and summary["parse_rate"]["value"] < 1


def test_intervals_contain_their_point_estimates(stored):
    summary, _, _ = stored
    for name in ("parse_rate", "accuracy", "kappa", "macro_f1"):
        lo, hi = summary[name]["ci95"]
        assert lo <= summary[name]["value"] <= hi, name


def test_vectorised_kappa_and_f1_equal_sklearn_on_random_matrices():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    classes = labels + [UNPARSED, ERROR]
    for _ in range(20):
        truth = rng.choice(labels, size=40)
        predicted = rng.choice(classes, size=40)
        conf = confusion_matrix(truth, predicted, labels=classes)[None]
        assert kappa_from_confusions(conf)[0] == pytest.approx(cohen_kappa_score(truth, predicted))
        assert macro_f1_from_confusions(conf, 3)[0] == pytest.approx(
            f1_score(truth, predicted, labels=labels, average="macro", zero_division=0))
