"""No model output can make a run exit 1: a lone surrogate is stored escaped and scored."""

from __future__ import annotations

import json

from conftest import HOLDOUT
from evalkit.cli import main
from evalkit.store import load_run


def test_lone_surrogate_in_an_output_is_stored_and_scored(make_suite, tmp_path):
    from evalkit.providers.mock import script

    script("surrogate", lambda request: f'{{"label": "{request.case.expected}", "note": "\ud800"}}')
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:surrogate"}})
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    rows = load_run(tmp_path / "run").rows
    assert len(rows) == len(HOLDOUT) and all(r["correct"] for r in rows)
    assert "\\ud800" in rows[0]["output"]
    (tmp_path / "run" / "results.jsonl").read_text(encoding="utf-8")  # valid UTF-8 throughout


def test_lone_surrogate_as_the_label_is_an_unparsed_row_not_a_crash(make_suite, tmp_path):
    from evalkit.providers.mock import script

    script("surrogate_label", lambda request: json.dumps({"label": "\udc80"}, ensure_ascii=False))
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:surrogate_label"}})
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert main(["score", str(tmp_path / "run")]) == 0
    assert not any(r["correct"] for r in load_run(tmp_path / "run").rows)


def test_deeply_nested_json_output_is_an_unparsed_row_not_a_crash(make_suite, tmp_path):
    from evalkit.providers.mock import script

    script("nested", lambda request: "[" * 200_000 + "]" * 200_000)
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:nested"}})
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert not any(r["parsed_ok"] for r in load_run(tmp_path / "run").rows)
