"""Scored fields: each field of the answer graded by its type, and the suite's bad declarations."""

from __future__ import annotations

import json

import pytest
import yaml

from evalkit.cli import main
from evalkit.fields import FieldSpec, TextChecks, exact_match, score_fields, score_value, text_checks

SEVERITY = FieldSpec(type="ordinal", order=["low", "medium", "high", "urgent"])


def test_an_ordinal_field_counts_the_steps_between_answer_and_expectation():
    assert score_value(SEVERITY, "urgent", "medium", []) == \
        {"expected": "urgent", "predicted": "medium", "correct": False, "distance": 2}


def test_an_ordinal_value_outside_the_order_is_wrong_with_no_distance():
    entry = score_value(SEVERITY, "low", "critical", [])
    assert entry["correct"] is False and entry["distance"] is None


def test_a_number_is_right_within_its_tolerance_only():
    spec = FieldSpec(type="number", tolerance=0.5)
    assert score_value(spec, 10, 10.4, [])["correct"] is True
    assert score_value(spec, 10, 10.6, [])["correct"] is False
    assert score_value(spec, 1, True, [])["correct"] is False


def test_a_field_the_case_does_not_expect_is_not_scored():
    assert score_value(FieldSpec(type="exact"), None, "x", [])["correct"] is None


def test_text_checks_each_pass_or_fail():
    checks = TextChecks(max_sentences=1, max_chars=40, must_match=["policy"], must_not_match=["(?i)sorry"])
    assert text_checks("Per the refund policy. Sorry!", checks, []) == {
        "non_empty": True, "max_chars": True, "max_sentences": False, "must_match[0]": True, "must_not_match[0]": False}


def test_mentions_source_accepts_the_document_name_and_applies_only_where_something_was_retrieved():
    checks = TextChecks(mentions_source=True)
    assert text_checks("See the refund policy doc.", checks, ["refund-policy.md#2"])["mentions_source"] is True
    assert text_checks("No citation here.", checks, ["refund-policy.md#2"])["mentions_source"] is False
    assert "mentions_source" not in text_checks("No citation here.", checks, [])


def test_exact_match_needs_the_label_and_every_scored_field():
    fields = {"severity": SEVERITY, "note": FieldSpec(type="exact")}
    scored = score_fields(fields, {"severity": "low", "note": "x"}, {"severity": "low"}, [])
    assert scored["note"]["correct"] is None  # not expected by the case: not scored
    assert exact_match(True, scored) is True and exact_match(False, scored) is False
    wrong = score_fields(fields, {"severity": "high"}, {"severity": "low"}, [])
    assert exact_match(True, wrong) is False


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"sevrity": {"type": "ordinal", "order": ["low", "high"]}},
            "scored field 'sevrity' is not in the output schema (did you mean 'severity'?)",
        ),
        ({"severity": {"type": "ordinal"}}, "an ordinal field needs its order"),
        ({"severity": {"type": "ordinal", "order": ["low", "high"]}}, "does not list the schema's values"),
        ({"label": {"type": "label"}}, "the label_field is scored already"),
    ],
)
def test_a_bad_scored_field_is_bad_input_before_any_call(tmp_path, capsys, fields, message):
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]},
                                               "severity": {"type": "string", "enum": ["low", "medium", "high"]}}}
    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "c1", "input": "x", "expected": {"label": "a"}}) + "\n")
    suite = {"name": "s", "cases": "cases.jsonl", "routes": {"base": {"kind": "base", "model": "mock:expected"}},
             "task": {"labels": ["a", "b"], "label_field": "label", "output_schema": schema, "fields": fields}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_the_example_suites_offline_stand_ins_answer_severity_by_a_learned_rule(tmp_path):
    from conftest import REPO

    assert main(["run", str(REPO / "evals" / "support_triage.yaml"), "--offline", "--route", "tuned",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len({r["fields"]["severity"]["predicted"] for r in rows}) > 1
    assert all(r["fields"]["rationale"]["checks"]["max_sentences"] for r in rows)
