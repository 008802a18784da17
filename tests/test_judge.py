"""An LLM judge for a text field, through mock:, graded against the cases' human grades."""

from __future__ import annotations

import json

import pytest
import yaml

from evalkit.judge import parse_grade
from evalkit.providers import mock
from evalkit.runner import RunOptions, run_suite

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["label", "note"],
          "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "note": {"type": "string"}}}
#: case id -> (the route's note, the human grade of that note)
NOTES = {"c1": ("clear and complete", 5), "c2": ("clear", 4), "c3": ("vague", 2), "c4": ("wrong", 1),
         "c5": ("clear and complete", 5), "c6": ("vague", 2)}
#: what the mock judge answers for each note: it agrees with the humans but on "clear" (3, not 4)
JUDGE = {"clear and complete": "5", "clear": "Grade: 3", "vague": "2", "wrong": "1"}


@pytest.fixture
def judged_run(tmp_path):
    mock.script("notes", lambda request: json.dumps({"label": "a", "note": NOTES[request.case_id][0]}))
    mock.script("judge", lambda request: JUDGE[request.messages[-1]["content"].rsplit("\n", 1)[-1]])
    cases = [{"id": cid, "input": f"ticket {cid}", "expected": {"label": "a", "note": "a clear note"},
              "grades": {"note": grade}} for cid, (_, grade) in NOTES.items()]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    suite = {
        "name": "judged",
        "cases": "cases.jsonl",
        "routes": {"base": {"kind": "base", "model": "mock:notes"}},
        "task": {
            "labels": ["a", "b"],
            "label_field": "label",
            "output_schema": SCHEMA,
            "fields": {
                "note": {
                    "type": "text",
                    "judge": {
                        "model": "mock:judge",
                        "rubric": "Is the note clear?",
                        "scale": [1, 2, 3, 4, 5],
                        "pass_at": 4,
                    },
                }
            },
        },
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    yield run_suite(tmp_path / "suite.yaml", RunOptions(out=tmp_path / "run", progress=False))
    mock.clear()


def rows_of(result):
    return [json.loads(line) for line in (result.run_dir / "results.jsonl").read_text().splitlines()]


def test_every_judged_field_carries_the_judges_grade_and_whether_it_passed(judged_run):
    grades = {r["case_id"]: r["fields"]["note"]["judge"]["grade"] for r in rows_of(judged_run)}
    assert grades == {"c1": 5, "c2": 3, "c3": 2, "c4": 1, "c5": 5, "c6": 2}
    passed = {r["case_id"]: r["fields"]["note"]["correct"] for r in rows_of(judged_run)}
    assert passed == {"c1": True, "c2": False, "c3": False, "c4": False, "c5": True, "c6": False}


def test_the_judges_calls_are_costed_apart_from_the_route(judged_run):
    row = rows_of(judged_run)[0]
    assert (
        row["fields"]["note"]["judge"]["input_tokens"] > 0 and row["fields"]["note"]["judge"]["model"] == "mock:judge"
    )


def test_a_grade_is_the_first_whole_number_on_the_scale():
    assert parse_grade("Grade: 7/10, so 4", [1, 2, 3, 4, 5]) == 4
    assert parse_grade("no idea", [1, 2, 3]) is None


def test_a_judge_without_a_rubric_is_bad_input(tmp_path, capsys):
    from evalkit.cli import main

    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "c1", "input": "x", "expected": {"label": "a"}}) + "\n")
    suite = {"name": "s", "cases": "cases.jsonl", "routes": {"base": {"kind": "base", "model": "mock:expected"}},
             "task": {"labels": ["a", "b"], "label_field": "label", "output_schema": SCHEMA,
                      "fields": {"note": {"type": "text", "judge": {"model": "mock:judge"}}}}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "task.fields.note.judge.rubric" in capsys.readouterr().err


def test_the_summary_reports_the_judges_agreement_with_the_human_grades(judged_run):
    from sklearn.metrics import cohen_kappa_score

    agreement = judged_run.summary["routes"]["base"]["fields"]["note"]["judge_agreement"]
    human, judge = [5, 4, 2, 1, 5, 2], [5, 3, 2, 1, 5, 2]
    expected = cohen_kappa_score(human, judge, weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert agreement["weighted_kappa"]["value"] == pytest.approx(expected) and agreement["weighted_kappa"]["n"] == 6
    assert agreement["exact_agreement"]["value"] == pytest.approx(5 / 6)


def test_the_gate_refuses_a_judged_metric_whose_judge_disagrees_with_the_humans(judged_run, tmp_path, capsys):
    from evalkit.cli import main

    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump({"candidate": "base", "min": {"note.judge_pass_rate": 0.1},
                                      "judge_agreement_min": 0.99}))
    assert main(["gate", str(judged_run.run_dir), "--policy", str(policy), "--allow-unverified"]) == 1
    assert "judge.note" in capsys.readouterr().out
    policy.write_text(yaml.safe_dump({"candidate": "base", "min": {"note.judge_pass_rate": 0.1},
                                      "judge_agreement_min": 0.5}))
    assert main(["gate", str(judged_run.run_dir), "--policy", str(policy), "--allow-unverified"]) == 0
