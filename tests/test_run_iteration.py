"""Iterating on a suite: `evalkit run --case/--tag/--limit` pick cases; `--watch` re-runs on change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import HOLDOUT, TRAIN, write_cases
from evalkit.cli import main
from evalkit.runner import RunOptions, run_suite
from evalkit.watch import changed, snapshot, watch, watched_files, what_moved


def cases_of(run_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run_dir / "cases.jsonl").read_text().splitlines()]


def row_cases(run_dir: Path) -> set[str]:
    return {json.loads(line)["case_id"] for line in (run_dir / "results.jsonl").read_text().splitlines()}


def test_limit_runs_the_first_n_cases(make_suite, tmp_path):
    code = main(["run", str(make_suite()), "--offline", "--limit", "2", "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 0 and cases_of(tmp_path / "r") == ["h1", "h2"] and row_cases(tmp_path / "r") == {"h1", "h2"}


def test_case_picks_the_named_cases(make_suite, tmp_path):
    code = main(
        [
            "run",
            str(make_suite()),
            "--offline",
            "--case",
            "h3",
            "--case",
            "h1",
            "--out",
            str(tmp_path / "r"),
            "--no-progress",
        ]
    )
    assert code == 0 and cases_of(tmp_path / "r") == ["h1", "h3"]


def test_tag_picks_cases_with_any_of_the_tags_and_case_adds_to_them(make_suite, tmp_path):
    result = run_suite(
        make_suite(), RunOptions(offline=True, out=tmp_path / "r", tags=["easy"], cases=["h1"], progress=False)
    )
    assert cases_of(result.run_dir) == ["h1", "h2", "h3"]
    assert result.manifest["selection"] == {"cases": ["h1"], "tags": ["easy"], "limit": None, "n_cases": 3}
    assert result.summary["routes"]["base"]["n"] == 3


def test_limit_applies_after_the_tags(make_suite, tmp_path):
    result = run_suite(
        make_suite(), RunOptions(offline=True, out=tmp_path / "r", tags=["adjacent-labels"], limit=1, progress=False)
    )
    assert cases_of(result.run_dir) == ["h1"]


def test_a_whole_run_records_no_selection(make_suite, tmp_path):
    result = run_suite(make_suite(), RunOptions(offline=True, out=tmp_path / "r", progress=False))
    assert "selection" not in result.manifest and cases_of(result.run_dir) == ["h1", "h2", "h3", "h4"]


def test_the_few_shot_pool_is_kept_when_cases_are_picked(make_suite, tmp_path):
    from evalkit.planning import build_plans
    from evalkit.selection import pick_cases
    from evalkit.suite import load_suite

    routes = {"prompted": {"kind": "prompted", "model": "mock:expected", "prompt": "{{ input }}", "examples": {"k": 6}}}
    suite = pick_cases(load_suite(make_suite(routes=routes)), {"cases": ["h2"], "tags": [], "limit": None})
    assert [c.id for c in suite.holdout] == ["h2"] and len(suite.train) == len(TRAIN)
    rendered = build_plans(suite, ["prompted"])["prompted"].render(suite.holdout[0])
    assert len(rendered.examples) == 6


@pytest.mark.parametrize("flags, message", [
    (["--case", "h11"], "--case 'h11': not a case of this suite (did you mean 'h1'?)"),
    (["--case", "t1"], "--case 't1': a train case, not evaluated"),
    (["--tag", "eazy"], "--tag 'eazy': no holdout case has this tag (did you mean 'easy'?)"),
    (["--limit", "0"], "--limit must be at least 1, got 0"),
])
def test_a_selection_that_picks_nothing_real_is_bad_input(make_suite, tmp_path, capsys, flags, message):
    code = main(["run", str(make_suite()), "--offline", *flags, "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_resumed_run_keeps_its_selection(make_suite, tmp_path):
    suite = make_suite()
    first = run_suite(suite, RunOptions(offline=True, out=tmp_path / "r", cases=["h2", "h4"], progress=False))
    rows = (first.run_dir / "results.jsonl").read_text().splitlines()
    (first.run_dir / "results.jsonl").write_text(rows[0] + "\n")  # the second answer lost
    resumed = run_suite(suite, RunOptions(offline=True, resume=first.run_dir, progress=False))
    assert resumed.calls_made == 1 and row_cases(first.run_dir) == {"h2", "h4"}


# -- --watch -----------------------------------------------------------------------------------

def test_the_watched_files_are_the_suite_its_cases_and_its_corpus(tmp_path):
    from view_runs import SUITE

    files = watched_files(SUITE)
    names = {path.name for path in files}
    assert SUITE in files and "cases.jsonl" in names and "output_schema.json" in names
    assert any(path.suffix == ".md" for path in files)  # the corpus folder's documents


def test_a_change_is_seen_by_its_modification_time(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("a")
    before = snapshot([path])
    assert changed(before, snapshot([path])) == []
    path.write_text("ab")
    assert changed(before, snapshot([path])) == [path]


def test_watch_reruns_when_a_case_file_changes_and_prints_what_moved(make_suite, tmp_path):
    suite = make_suite()
    said: list[str] = []
    runs: list[Path] = []

    def run_once():
        result = run_suite(suite, RunOptions(offline=True, out=tmp_path / f"run{len(runs)}", progress=False))
        runs.append(result.run_dir)
        return result

    def edit_the_cases(_seconds):  # in place of waiting: the person saves a change to the cases
        if len(runs) == 1:
            write_cases(
                tmp_path / "cases.jsonl",
                TRAIN + HOLDOUT[:3] + [dict(HOLDOUT[3], input="please close my account for good")],
            )

    code = watch(suite, run_once, say=said.append, sleep=edit_the_cases, max_runs=2)
    assert code == 0 and len(runs) == 2, said
    assert said[0].startswith("watching ") and any(
        line.startswith("changed: ") and "cases.jsonl" in line for line in said
    )
    assert "what moved since the last run:" in said
    moved = [line.strip() for line in said if line.startswith("  ")]
    assert moved == what_moved(runs[0], runs[1]) and len(moved) == len(
        json.loads((runs[1] / "manifest.json").read_text())["routes"]
    )


def test_what_moved_names_the_cases_fixed_and_broken(make_suite, tmp_path):
    suite = make_suite()
    a = run_suite(suite, RunOptions(offline=True, out=tmp_path / "a", progress=False)).run_dir
    b = run_suite(suite, RunOptions(offline=True, out=tmp_path / "b", progress=False)).run_dir
    rows = [json.loads(line) for line in (b / "results.jsonl").read_text().splitlines()]
    for row in rows:
        if row["route"] == "base" and row["case_id"] == "h2":
            row.update(predicted_label="login_failure", correct=not row["correct"])
    (b / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = what_moved(a, b)
    base = next(line for line in lines if line.startswith("base:"))
    before = next(r for r in map(json.loads, (a / "results.jsonl").read_text().splitlines())
                  if r["route"] == "base" and r["case_id"] == "h2")
    assert ("broken h2" if before["correct"] else "fixed h2") in base
    assert all(line.endswith("nothing moved") for line in lines if not line.startswith("base:"))


def test_a_broken_save_is_reported_and_waited_out(make_suite, tmp_path):
    from evalkit.errors import BadInput

    suite = make_suite()
    said: list[str] = []
    calls = []

    def run_once():
        calls.append(1)
        raise BadInput("a half-saved suite", where=str(suite))

    def touch(_seconds):
        suite.write_text(suite.read_text() + "\n")

    assert watch(suite, run_once, say=said.append, sleep=touch, max_runs=2) == 0
    assert len(calls) == 2 and sum("a half-saved suite (watching for the fix)" in line for line in said) == 2


def test_watch_goes_without_out_and_resume(make_suite, tmp_path, capsys):
    code = main(["run", str(make_suite()), "--offline", "--watch", "--out", str(tmp_path / "r")])
    assert code == 2 and "--watch makes a new run directory per change" in capsys.readouterr().err


def test_the_watch_command_runs_then_watches_until_ctrl_c(make_suite, tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    def ctrl_c(_seconds):  # the person presses Ctrl-C while watch waits between looks
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("evalkit.watch.time", SimpleNamespace(sleep=ctrl_c))
    assert main(["run", str(make_suite()), "--offline", "--watch", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "run directory: reports/tiny/" in out and "watching 2 file(s) for changes (Ctrl-C stops)" in out
    assert out.rstrip().endswith("evalkit: stopped watching")
