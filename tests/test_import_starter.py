"""`evalkit import ... --suite FILE` writes a starter suite that runs the imported cases as written."""

from __future__ import annotations

from pathlib import Path

from conftest import HOLDOUT, TRAIN, write_cases
from evalkit.cases import load_cases
from evalkit.cli import main
from evalkit.starter import starter_suite
from evalkit.suite import load_suite

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def import_with_suite(tmp_path, *extra: str) -> tuple[int, Path]:
    suite = tmp_path / "evals" / "triage.yaml"
    code = main(["import", "openai-evals", str(FIXTURES / "openai_evals_samples.jsonl"), "--out",
                 str(tmp_path / "datasets" / "triage" / "cases.jsonl"), "--suite", str(suite), *extra])
    return code, suite


def test_the_starter_suite_loads_with_the_imported_labels_and_cases(tmp_path):
    code, suite = import_with_suite(tmp_path)
    loaded = load_suite(suite)
    assert code == 0 and loaded.spec.task.labels == ["billing", "cancellation", "login"]
    assert len(loaded.cases) == len(load_cases(tmp_path / "datasets" / "triage" / "cases.jsonl"))
    assert loaded.spec.cases == "../datasets/triage/cases.jsonl"


def test_the_starter_suite_runs_offline(tmp_path, capsys):
    _, suite = import_with_suite(tmp_path)
    assert main(["run", str(suite), "--offline", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "base" in capsys.readouterr().out


def test_an_existing_suite_file_is_kept_without_force(tmp_path, capsys):
    suite = tmp_path / "evals" / "triage.yaml"
    suite.parent.mkdir()
    suite.write_text("keep me\n")
    code, _ = import_with_suite(tmp_path)
    assert code == 2 and suite.read_text() == "keep me\n" and "--force" in capsys.readouterr().err


def test_cases_with_a_train_split_get_a_prompted_route_with_few_shot_examples(tmp_path):
    cases_file = write_cases(tmp_path / "cases.jsonl", TRAIN + HOLDOUT)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        starter_suite(
            "tiny", suite, cases_file, load_cases(cases_file), ["billing_dispute", "cancellation", "login_failure"]
        )
    )
    routes = load_suite(suite).spec.routes
    assert set(routes) == {"base", "prompted"} and routes["prompted"].examples.k == 8


def test_a_suite_the_importer_suggested_gives_the_task_and_routes(tmp_path):
    cases_file = write_cases(tmp_path / "cases.jsonl", HOLDOUT)
    suggested = {"task": {"labels": ["billing_dispute", "cancellation", "login_failure"], "output_format": "text",
                          "ignore_case": True},
                 "routes": {"graded": {"kind": "base", "model": "openai:gpt-4.1", "prompt": "{{ input }}"}}}
    suite = tmp_path / "suite.yaml"
    suite.write_text(starter_suite("hosted", suite, cases_file, load_cases(cases_file), [], suggested=suggested))
    loaded = load_suite(suite)
    assert list(loaded.spec.routes) == ["graded"] and loaded.spec.task.ignore_case is True
