"""The run store keeps every finished row, even after a process died mid-write."""

from __future__ import annotations

import json

from evalkit.store import RunWriter, load_rows, parse_run_ref


def test_rows_are_on_disk_as_soon_as_they_are_appended(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append({"case_id": "a", "route": "r", "repeat": 0})
    assert load_rows(tmp_path) == [{"case_id": "a", "route": "r", "repeat": 0}]
    writer.close()


def test_a_torn_last_line_is_ignored_on_load_and_cut_before_appending(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"case_id": "a", "route": "r"}) + '\n{"case_id": "b", "ro')
    assert [r["case_id"] for r in load_rows(tmp_path)] == ["a"]
    writer = RunWriter(tmp_path)
    writer.append({"case_id": "c", "route": "r"})
    writer.close()
    assert [r["case_id"] for r in load_rows(tmp_path)] == ["a", "c"]


def test_run_ref_splits_on_the_last_colon(tmp_path):
    assert parse_run_ref(f"{tmp_path}:tuned") == (tmp_path, "tuned")


def test_a_bare_route_uses_the_default_run(tmp_path):
    assert parse_run_ref("base", default_dir=tmp_path) == (tmp_path, "base")


def test_a_torn_last_line_cut_inside_a_character_is_ignored(tmp_path):
    torn = json.dumps({"case_id": "b", "output": "café"}, ensure_ascii=False).encode()
    torn = torn[:torn.index("é".encode()) + 1]
    (tmp_path / "results.jsonl").write_bytes((json.dumps({"case_id": "a", "route": "r"}) + "\n").encode() + torn)
    assert [r["case_id"] for r in load_rows(tmp_path)] == ["a"]


def test_a_whole_last_row_without_its_newline_is_kept_when_appending(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"case_id": "a", "route": "r"}) + "\n"
                                            + json.dumps({"case_id": "b", "route": "r"}))
    assert [r["case_id"] for r in load_rows(tmp_path)] == ["a", "b"]  # so a resume does not redo b
    writer = RunWriter(tmp_path)
    writer.append({"case_id": "c", "route": "r"})
    writer.close()
    assert [r["case_id"] for r in load_rows(tmp_path)] == ["a", "b", "c"]


def test_line_separators_inside_an_answer_do_not_split_its_row(tmp_path):
    writer = RunWriter(tmp_path)
    writer.append({"case_id": "a", "route": "r", "output": "one\u2028two\x85three"})
    writer.append({"case_id": "b", "route": "r"})
    writer.close()
    assert [r.get("output") for r in load_rows(tmp_path)] == ["one\u2028two\x85three", None]
