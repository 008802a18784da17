"""`evalkit ft split`: seeded, stratified train/holdout assignment that never moves a case."""

from __future__ import annotations

import json

from evalkit.cases import load_cases
from evalkit.cli import main
from evalkit.finetune.split import SplitCase, assign_splits, split_case_file


def labelled(n_per_label: dict[str, int], split=None) -> list[SplitCase]:
    return [SplitCase(f"{label}-{i:02d}", label, split) for label, n in n_per_label.items() for i in range(n)]


def write_cases(path, n_per_label: dict[str, int], fixed: dict[str, str] | None = None):
    lines = []
    for label, n in n_per_label.items():
        for i in range(n):
            case = {"id": f"{label}-{i:02d}", "input": f"ticket {i} about {label}", "expected": label}
            if fixed and case["id"] in fixed:
                case["split"] = fixed[case["id"]]
            lines.append(json.dumps(case))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_each_label_gets_its_share_of_holdout_cases():
    assigned = assign_splits(labelled({"a": 10, "b": 20}), holdout=0.2, seed=1)
    holdout = [case_id for case_id, split in assigned.items() if split == "holdout"]
    assert (sum(i.startswith("a") for i in holdout), sum(i.startswith("b") for i in holdout)) == (2, 4)


def test_the_same_seed_gives_the_same_assignment():
    cases = labelled({"a": 15, "b": 15})
    assert assign_splits(cases, 0.3, seed=7) == assign_splits(list(reversed(cases)), 0.3, seed=7)


def test_another_seed_draws_other_cases():
    cases = labelled({"a": 30})
    assert assign_splits(cases, 0.3, seed=1) != assign_splits(cases, 0.3, seed=2)


def test_cases_that_have_a_split_keep_it_and_count_towards_the_share():
    cases = labelled({"a": 10})
    cases = [SplitCase(c.id, c.label, "holdout") if c.id in ("a-00", "a-01") else c for c in cases]
    assigned = assign_splits(cases, 0.2, seed=3)
    assert "a-00" not in assigned and "a-01" not in assigned
    assert set(assigned.values()) == {"train"}


def test_split_file_writes_only_the_missing_splits(tmp_path):
    path = write_cases(tmp_path / "cases.jsonl", {"a": 5, "b": 5}, fixed={"a-00": "train"})
    before = path.read_text().splitlines()
    split_case_file(path, holdout=0.4, seed=0)
    after = path.read_text().splitlines()
    assert after[0] == before[0]  # the case with a split is untouched, byte for byte
    assert all(c.split in ("train", "holdout") for c in load_cases(path))
    assert sum(c.split == "holdout" for c in load_cases(path)) == 4


def test_split_twice_changes_nothing_the_second_time(tmp_path):
    path = write_cases(tmp_path / "cases.jsonl", {"a": 6, "b": 6})
    split_case_file(path, holdout=0.5, seed=0)
    first = path.read_text()
    assert split_case_file(path, holdout=0.5, seed=99).assigned == {}
    assert path.read_text() == first


def test_csv_gets_a_split_column(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "id,input,expected\n" + "".join(f"c{i},text {i},{'ab'[i % 2]}\n" for i in range(10)), encoding="utf-8"
    )
    split_case_file(path, holdout=0.2, seed=0)
    assert path.read_text().splitlines()[0] == "id,input,expected,split"
    assert sorted(c.split for c in load_cases(path)).count("holdout") == 2


def test_yaml_keeps_its_comments(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("# hand-written cases\n" + "".join(
        f"- id: c{i}  # case {i}\n  input: text {i}\n  expected: {'ab'[i % 2]}\n" for i in range(6)), encoding="utf-8")
    split_case_file(path, holdout=0.34, seed=0)
    text = path.read_text()
    assert text.startswith("# hand-written cases\n") and "# case 5" in text
    assert sorted(c.split for c in load_cases(path)).count("holdout") == 2


def test_out_leaves_the_case_file_alone(tmp_path):
    path = write_cases(tmp_path / "cases.jsonl", {"a": 4})
    before = path.read_text()
    split_case_file(path, holdout=0.5, seed=0, out=tmp_path / "split.jsonl")
    assert path.read_text() == before
    assert {c.split for c in load_cases(tmp_path / "split.jsonl")} == {"train", "holdout"}


def test_object_expected_needs_a_label_field(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps({"id": f"c{i}", "input": "x", "expected": {"code": "ab"[i % 2]}}) + "\n"
                            for i in range(4)), encoding="utf-8")
    assert main(["ft", "split", str(path)]) == 2
    assert main(["ft", "split", str(path), "--label-field", "code", "--holdout", "0.5"]) == 0


def test_the_command_prints_counts_per_label_and_split(tmp_path, capsys):
    path = write_cases(tmp_path / "cases.jsonl", {"billing": 10, "login": 5})
    assert main(["ft", "split", str(path), "--holdout", "0.2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line.split()[1:4]
        for line in out.splitlines()
        if line.split() and line.split()[0] in ("billing", "login", "total")
    }
    assert rows == {"billing": ["8", "2", "10"], "login": ["4", "1", "5"], "total": ["12", "3", "15"]}


def test_a_json_case_file_gets_its_splits_and_keeps_the_given_one(tmp_path):
    path = tmp_path / "cases.json"
    cases = [{"id": f"c{i}", "input": f"text {i}", "expected": "ab"[i % 2]} for i in range(6)]
    cases[0]["split"] = "train"
    path.write_text(json.dumps({"cases": cases}), encoding="utf-8")
    result = split_case_file(path, holdout=0.5, seed=0)
    assert "c0" not in result.assigned and len(result.assigned) == 5
    loaded = {c.id: c.split for c in load_cases(path)}
    assert loaded["c0"] == "train" and sum(s == "holdout" for s in loaded.values()) == 4  # 2 of each label's 3


def test_flow_style_yaml_cases_are_written_again_whole(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text(
        "cases:\n"
        + "".join(f"  - {{id: c{i}, input: text {i}, expected: {'ab'[i % 2]}}}\n" for i in range(4))
        + "  - {id: c4, input: text 4, expected: a, split: holdout}\n",
        encoding="utf-8",
    )
    result = split_case_file(path, holdout=0.4, seed=0)
    assert "c4" not in result.assigned
    loaded = {c.id: c.split for c in load_cases(path)}
    assert loaded["c4"] == "holdout" and set(loaded.values()) == {"train", "holdout"}
