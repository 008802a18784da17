"""The example suite runs offline, as `make example` does."""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from evalkit.cli import main
from evalkit.suite import load_suite

EXAMPLE = REPO / "evals" / "support_triage.yaml"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("example") / "run"
    code = main(["run", str(EXAMPLE), "--offline", "--out", str(out), "--no-progress"])
    return code, out


def test_example_suite_has_the_promised_shape():
    suite = load_suite(EXAMPLE)
    assert 40 <= len(suite.holdout) <= 50 and len(suite.train) >= 120
    assert {route.kind for route in suite.spec.routes.values()} == {"base", "prompted", "rag", "finetuned"}
    assert any(case.sources for case in suite.holdout)


def test_example_suite_runs_offline_with_every_row_parsed(example_run):
    code, out = example_run
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())["routes"]
    assert set(summary) == {"base", "prompted", "rag", "tuned"}
    assert all(
        route["n"] == 46 and route["errors"] == 0 and route["parse_rate"]["value"] == 1.0 for route in summary.values()
    )


def test_example_rag_route_reports_retrieval_quality(example_run):
    _, out = example_run
    retrieval = json.loads((out / "summary.json").read_text())["routes"]["rag"]["retrieval"]
    assert retrieval["n"] > 0 and 0 < retrieval["recall_at_k"] <= 1


def test_example_trained_stand_in_beats_keyword_matching(example_run):
    _, out = example_run
    summary = json.loads((out / "summary.json").read_text())["routes"]
    assert summary["tuned"]["accuracy"]["value"] > summary["base"]["accuracy"]["value"]
