"""Parsing and grading one output (docs/architecture.md: scoring)."""

from __future__ import annotations

import pytest

from evalkit.scoring import Scorer
from evalkit.suite import Task

LABELS = ["billing_dispute", "cancellation"]
SCHEMA = {"type": "object", "required": ["reason_code", "severity"], "additionalProperties": False,
          "properties": {"reason_code": {"type": "string"}, "severity": {"enum": ["low", "high"]}}}


def json_scorer(**task) -> Scorer:
    return Scorer(Task(labels=LABELS, label_field="reason_code", **task), SCHEMA)


def text_scorer(**task) -> Scorer:
    return Scorer(Task(labels=LABELS, output_format="text", **task), None)


def test_whole_output_json_parses():
    score = json_scorer().score(' {"reason_code": "cancellation", "severity": "low"} \n')
    assert score.parsed_ok and score.predicted_label == "cancellation"


def test_fenced_json_block_anywhere_counts():
    output = 'Sure! Here it is:\n```json\n{"reason_code": "billing_dispute", "severity": "high"}\n```\nAnything else?'
    assert json_scorer().score(output).predicted_label == "billing_dispute"


def test_bare_fence_counts():
    output = 'Answer:\n```\n{"reason_code": "billing_dispute", "severity": "high"}\n```'
    assert json_scorer().score(output).parsed_ok


def test_a_json_block_after_a_block_in_another_language_counts():
    output = ('The lookup I ran:\n```python\nfind(ticket)\n```\nMy answer:\n'
              '```json\n{"reason_code": "cancellation", "severity": "low"}\n```')
    assert json_scorer().score(output).predicted_label == "cancellation"


def test_a_block_in_another_language_alone_is_unparsed():
    output = 'Here:\n```python\n{"reason_code": "cancellation", "severity": "low"}\n```'
    assert not json_scorer().score(output).parsed_ok


def test_truncated_json_is_unparsed_not_repaired():
    score = json_scorer().score('{"reason_code": "billing_dispute", "severity": "hi')
    assert not score.parsed_ok and score.parse_error.startswith("invalid JSON")


def test_schema_violation_is_unparsed_and_says_where():
    score = json_scorer().score('{"reason_code": "billing_dispute", "severity": "medium"}')
    assert not score.parsed_ok and score.parse_error.startswith("schema:") and "severity" in score.parse_error


def test_missing_label_field_is_unparsed():
    scorer = Scorer(Task(labels=LABELS, label_field="result.code"), None)
    score = scorer.score('{"result": {}}')
    assert not score.parsed_ok and "no label at 'result.code'" in score.parse_error


def test_dot_path_label_field_reaches_nested_labels():
    scorer = Scorer(Task(labels=LABELS, label_field="result.code"), None)
    assert scorer.score('{"result": {"code": "cancellation"}}').predicted_label == "cancellation"


def test_label_outside_the_set_is_unparsed():
    score = json_scorer().score('{"reason_code": "refund", "severity": "low"}')
    assert not score.parsed_ok and "not in task.labels" in score.parse_error


def test_text_mode_takes_the_trimmed_output():
    assert text_scorer().score("  cancellation\n").predicted_label == "cancellation"


def test_text_mode_is_case_sensitive_by_default():
    assert not text_scorer().score("Cancellation").parsed_ok


def test_text_mode_ignore_case_returns_the_canonical_label():
    assert text_scorer(ignore_case=True).score("CANCELLATION").predicted_label == "cancellation"


def test_text_mode_extract_takes_group_one_of_the_first_match():
    scorer = text_scorer(extract=r"<category>(.*?)</category>")
    score = scorer.score("Thinking...\n<category> billing_dispute </category> <category>cancellation</category>")
    assert score.predicted_label == "billing_dispute"


def test_text_mode_extract_without_match_is_unparsed():
    score = text_scorer(extract=r"<category>(.*?)</category>").score("billing_dispute")
    assert not score.parsed_ok and "did not match" in score.parse_error


def test_extract_without_a_group_is_rejected():
    with pytest.raises(ValueError, match="capture group"):
        Task(labels=LABELS, output_format="text", extract=r"<category>.*</category>")
