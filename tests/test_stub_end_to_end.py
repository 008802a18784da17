"""The issue's "done when": suites run through both SDKs against the local stub, which answers
every request with its case's gold output, so every row must come back correct, with 5% of
requests failing as 429 or 500 too; a cached re-run sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main
from evalkit.suite import load_suite
from evalkit.testing.oracle import GoldResponder
from evalkit.testing.stub_server import StubServer
from stub_helpers import isolate, model_calls, rows, run, write_suite

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "evals" / "support_triage.yaml"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def example_suite_against(stub, folder: Path, sdk: str) -> Path:
    """The example suite with every route pointed at the stub (through `sdk`); paths made absolute."""
    if not (REPO / "datasets" / "support_triage" / "cases.jsonl").exists():
        pytest.skip("the example dataset datasets/support_triage is not in this checkout")
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for key in ("cases", "corpus"):
        data[key] = str((EXAMPLE.parent / data[key]).resolve())
    data["task"]["output_schema"] = str((EXAMPLE.parent / data["task"]["output_schema"]).resolve())
    data["allow_outside_paths"] = True  # the copy in tmp_path reads the checkout's datasets
    for route in data["routes"].values():
        if sdk == "anthropic":
            route["model"] = "anthropic:claude-haiku-4-5"
            route["base_url"] = stub.base_url_anthropic
        else:
            route["base_url"] = stub.base_url_openai
    path = folder / "support_triage.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def own_suite_against(stub, folder: Path) -> Path:
    """50 cases, four routes (base, prompted, rag, finetuned) over both SDKs: 200 rows."""
    return write_suite(folder, {
        "base": {"kind": "base", "model": "openai:gpt-4.1-mini", "base_url": stub.base_url_openai},
        "prompted": {"kind": "prompted", "model": "anthropic:claude-haiku-4-5", "base_url": stub.base_url_anthropic,
                     "system": "Classify the ticket.", "examples": {"k": 2, "strategy": "stratified"}},
        "rag": {"kind": "rag", "model": "anthropic:claude-sonnet-4-6", "base_url": stub.base_url_anthropic,
                "retrieval": {"k": 1}},
        "tuned": {"kind": "finetuned", "model": "openai:ft:gpt-4.1-mini-2025-04-14:acme::t1",
                  "base_url": stub.base_url_openai},
    }, n=50, train=8, corpus=True)


def every_row_correct(run_dir: Path, expected: int) -> None:
    found = rows(run_dir)
    assert len(found) == expected
    assert len({(r["case_id"], r["route"], r["repeat"]) for r in found}) == expected
    assert [r for r in found if not r["correct"]] == []


def test_own_four_route_suite_gives_200_of_200_correct_through_both_sdks(tmp_path):
    with StubServer() as stub:
        suite = own_suite_against(stub, tmp_path)
        stub.responder = GoldResponder(load_suite(suite))
        result = run(suite, tmp_path / "run")
        sent = model_calls(stub)
    every_row_correct(result.run_dir, 200)
    assert {r["path"] for r in sent} == {"/v1/chat/completions", "/v1/messages"}
    assert result.exit_code == 0


def test_with_five_percent_failures_every_row_still_arrives_correct_and_retries_are_reported(tmp_path, capsys):
    with StubServer(error_rate=0.05, error_statuses=(429, 500), retry_after_ms=1, seed=3) as stub:
        suite = own_suite_against(stub, tmp_path)
        stub.responder = GoldResponder(load_suite(suite))
        code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress", "--cache", "off"])
    printed = capsys.readouterr().out
    assert code == 0
    every_row_correct(tmp_path / "run", 200)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["retries"] > 0
    assert f"retries: {manifest['retries']}" in printed
    assert max(r["attempts"] for r in rows(tmp_path / "run")) >= 2


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_example_suite_runs_every_row_correct_and_a_cached_rerun_sends_nothing(tmp_path, sdk):
    with StubServer() as stub:
        suite = example_suite_against(stub, tmp_path, sdk)
        loaded = load_suite(suite)
        stub.responder = GoldResponder(loaded)
        first = run(suite, tmp_path / "first")
        expected = len(loaded.holdout) * len(loaded.spec.routes)
        every_row_correct(first.run_dir, expected)
        stub.reset_counts()
        second = run(suite, tmp_path / "second")
        assert stub.request_count == 0
    every_row_correct(second.run_dir, expected)
    assert second.cache_hits == expected


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_example_suite_survives_five_percent_failures(tmp_path, sdk):
    with StubServer(error_rate=0.05, error_statuses=(429, 500), retry_after_ms=1, seed=11) as stub:
        suite = example_suite_against(stub, tmp_path, sdk)
        loaded = load_suite(suite)
        stub.responder = GoldResponder(loaded)
        result = run(suite, tmp_path / "run", cache="off")
    every_row_correct(result.run_dir, len(loaded.holdout) * len(loaded.spec.routes))
    assert result.retries > 0 and result.exit_code == 0
