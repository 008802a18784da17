"""examples/own-rag runs offline from its README's command and its retrieval is scored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cli import main

SUITE = Path(__file__).resolve().parents[1] / "examples" / "own-rag" / "support_triage.yaml"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("own-rag") / "run"
    code = main(["run", str(SUITE), "--offline", "--out", str(out), "--cache", "off", "--no-progress"])
    return code, out


def test_example_runs_offline_keeping_the_python_route(example_run):
    code, out = example_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert code == 0 and manifest["routes"]["own_rag"]["ran_as"] == "python:pipeline.py:answer"


def test_example_pipeline_retrieval_is_scored_like_the_built_in_retriever(example_run):
    _, out = example_run
    routes = json.loads((out / "summary.json").read_text())["routes"]
    assert routes["own_rag"]["retrieval"]["n"] == routes["rag"]["retrieval"]["n"] == 11
    assert routes["own_rag"]["retrieval"]["k"] == 3


def test_example_packet_shows_who_retrieved(example_run, tmp_path):
    _, out = example_run
    assert main(["packet", str(out), "--baseline", "rag", "--candidate", "own_rag", "--out", str(tmp_path)]) == 0
    retrieval = {e["name"]: e["retriever"] for e in json.loads((tmp_path / "packet.json").read_text())["retrieval"]}
    assert retrieval == {"rag": "evalkit (TF-IDF over the corpus)", "own_rag": "the route's own pipeline"}


def test_readme_gives_the_command_the_test_runs():
    readme = (SUITE.parent / "README.md").read_text()
    assert "evalkit run examples/own-rag/support_triage.yaml --offline" in readme
