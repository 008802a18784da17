"""Paths written in a suite stay inside its folder or the git work tree that holds it, unless
the suite says `allow_outside_paths: true`; paths given on the command line are never confined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import HOLDOUT, LABELS, TRAIN, write_cases
from evalkit.cli import main
from evalkit.errors import BadInput
from evalkit.suite import load_suite

SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}}


def suite_in(folder: Path, **keys) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if "cases" not in keys:
        write_cases(folder / "cases.jsonl", TRAIN + HOLDOUT)
    suite = {"name": "confined", "task": {"labels": LABELS, "output_format": "json", "label_field": "label",
                                          "output_schema": SCHEMA},
             "cases": "cases.jsonl", "routes": {"base": {"kind": "base", "model": "mock:expected"}}, **keys}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("not for the model")
    write_cases(folder / "cases.jsonl", TRAIN + HOLDOUT)
    (folder / "schema.json").write_text(json.dumps(SCHEMA))
    return folder


def test_corpus_glob_outside_the_suite_folder_exits_2_naming_the_path(tmp_path, outside, capsys):
    path = suite_in(tmp_path / "project", corpus=str(outside / "*.md"),
                    routes={"rag": {"kind": "rag", "model": "mock:expected"}})
    code = main(["run", str(path), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "corpus" in err and str(outside) in err and "allow_outside_paths" in err


def test_relative_case_path_climbing_out_of_the_suite_folder_is_refused(tmp_path, outside):
    with pytest.raises(BadInput, match="cases"):
        load_suite(suite_in(tmp_path / "project", cases="../outside/cases.jsonl"))


def test_output_schema_outside_the_suite_folder_is_refused(tmp_path, outside):
    task = {
        "labels": LABELS,
        "output_format": "json",
        "label_field": "label",
        "output_schema": str(outside / "schema.json"),
    }
    with pytest.raises(BadInput, match="output_schema"):
        load_suite(suite_in(tmp_path / "project", task=task))


def test_symlink_in_the_suite_folder_pointing_outside_is_refused(tmp_path, outside):
    project = tmp_path / "project"
    project.mkdir()
    (project / "docs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BadInput, match="corpus"):
        load_suite(suite_in(project, corpus="docs"))


def test_allow_outside_paths_lets_a_suite_read_elsewhere(tmp_path, outside):
    suite = load_suite(suite_in(tmp_path / "project", cases=str(outside / "cases.jsonl"), corpus=str(outside / "*.md"),
                                allow_outside_paths=True))
    assert len(suite.cases) == len(TRAIN + HOLDOUT)


def test_paths_anywhere_in_the_git_work_tree_holding_the_suite_are_allowed(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "datasets").mkdir()
    write_cases(repo / "datasets" / "cases.jsonl", TRAIN + HOLDOUT)
    suite = load_suite(suite_in(repo / "evals", cases="../datasets/cases.jsonl"))
    assert len(suite.cases) == len(TRAIN + HOLDOUT)


def test_command_line_paths_are_never_confined(tmp_path, outside, capsys):
    replay = outside / "answers.jsonl"
    replay.write_text("".join(json.dumps({"case_id": c["id"], "output": json.dumps({"label": c["expected"]})}) + "\n"
                              for c in HOLDOUT))
    path = suite_in(tmp_path / "project")
    code = main(["run", str(path), "--replay", str(replay), "--out", str(outside / "run"), "--no-progress"])
    assert code == 0 and (outside / "run" / "summary.json").exists()
