"""A run directory is evalkit's alone: rewriting it takes the run's lock, `--out` never
overwrites the user's files, and `latest` only ever replaces a link evalkit made."""

from __future__ import annotations

import json
import os

import pytest

from conftest import HOLDOUT
from evalkit.cli import main
from evalkit.runner import RunOptions, run_suite
from evalkit.store import lock_run


def test_score_refuses_with_exit_2_while_a_run_holds_the_lock(make_suite, tmp_path, capsys):
    run_dir = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False)).run_dir
    before = (run_dir / "results.jsonl").stat().st_ino
    held = lock_run(run_dir)
    try:
        code = main(["score", str(run_dir)])
    finally:
        held.close()
    assert code == 2 and "another evalkit process" in capsys.readouterr().err
    assert (run_dir / "results.jsonl").stat().st_ino == before


def test_score_works_once_the_run_has_released_its_lock(make_suite, tmp_path):
    run_dir = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False)).run_dir
    lock_run(run_dir).close()
    assert main(["score", str(run_dir)]) == 0


def test_a_run_whose_results_file_is_replaced_stops_with_exit_3(make_suite, tmp_path, capsys):
    from evalkit.providers.mock import script

    out = tmp_path / "run"
    answered = []

    def replace_results_on_the_second_call(request):
        answered.append(request.case_id)
        if len(answered) == 2:
            (out / "intruder.jsonl").write_text("")
            os.replace(out / "intruder.jsonl", out / "results.jsonl")
        return json.dumps({"label": request.case.expected})

    script("replacer", replace_results_on_the_second_call)
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:replacer"}})
    code = main(["run", str(suite), "--out", str(out), "--no-progress", "--concurrency", "1"])
    err = capsys.readouterr().err
    assert code == 3 and "results.jsonl was replaced" in err
    assert json.loads((out / "manifest.json").read_text())["status"] != "complete"


def test_out_at_a_folder_holding_user_files_exits_2_and_leaves_them(make_suite, tmp_path, capsys):
    suite = make_suite()
    cases_before = (tmp_path / "cases.jsonl").read_bytes()
    code = main(["run", str(suite), "--out", str(tmp_path), "--no-progress"])
    assert code == 2 and "--out" in capsys.readouterr().err
    assert (tmp_path / "cases.jsonl").read_bytes() == cases_before
    assert not (tmp_path / "manifest.json").exists()


def test_out_at_an_existing_empty_folder_is_accepted(make_suite, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "empty", progress=False))
    assert result.exit_code == 0 and result.summary["routes"]["base"]["n"] == len(HOLDOUT)


def test_resume_of_a_folder_that_is_not_a_run_exits_2(make_suite, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    code = main(["run", str(make_suite()), "--resume", str(tmp_path / "mine"), "--no-progress"])
    assert code == 2 and "not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b"])
def test_suite_name_that_is_not_a_safe_slug_exits_2(make_suite, tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    code = main(["run", str(make_suite(name=name)), "--no-progress"])
    assert code == 2 and "name" in capsys.readouterr().err
    assert not (tmp_path / "latest").exists() and not (tmp_path / "reports").exists()


def test_latest_that_is_a_user_file_is_left_alone(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "reports" / "tiny"
    folder.mkdir(parents=True)
    (folder / "latest").write_text("my notes")
    result = run_suite(make_suite(), RunOptions(progress=False))
    assert result.exit_code == 0
    assert not (folder / "latest").is_symlink() and (folder / "latest").read_text() == "my notes"


def test_latest_link_evalkit_made_moves_to_the_newest_run(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite()
    run_suite(suite, RunOptions(progress=False))
    second = run_suite(suite, RunOptions(progress=False))
    latest = tmp_path / "reports" / "tiny" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == second.run_dir.name
