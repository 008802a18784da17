"""OpenAI hosted Evals: an eval definition and its items become cases and a suggested suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import BadInput
from evalkit.importers import import_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"
EVAL, ITEMS = FIXTURES / "hosted_eval.json", FIXTURES / "hosted_items.jsonl"


def _write(tmp_path, definition: dict, items: list[dict]) -> tuple[Path, Path]:
    (tmp_path / "eval.json").write_text(json.dumps(definition), encoding="utf-8")
    (tmp_path / "items.jsonl").write_text("".join(json.dumps({"item": i}) + "\n" for i in items), encoding="utf-8")
    return tmp_path / "eval.json", tmp_path / "items.jsonl"


def test_the_string_check_reference_field_is_the_label_and_the_rest_of_the_item_the_input():
    cases = import_file("openai-hosted-evals", EVAL, items=ITEMS).cases
    assert [c.expected for c in cases] == ["billing", "cancellation", "login", "billing"]
    assert cases[0].input == {"ticket": "I was charged twice this month"}


def test_the_label_model_labels_are_the_label_set():
    assert import_file("openai-hosted-evals", EVAL, items=ITEMS).labels == ["billing", "cancellation", "login"]


def test_item_templates_become_the_suggested_route_prompt():
    suite = import_file("openai-hosted-evals", EVAL, items=ITEMS).suite
    route = suite["routes"]["prompted"]
    assert route["prompt"] == "Ticket: {{ ticket }}" and route["model"] == "openai:gpt-4o-mini"
    assert route["system"].startswith("Classify the support ticket")
    assert suite["task"] == {
        "labels": ["billing", "cancellation", "login"],
        "output_format": "text",
        "ignore_case": True,
    }


def test_unmapped_graders_and_recorded_samples_are_reported():
    warnings = {str(w) for w in import_file("openai-hosted-evals", EVAL, items=ITEMS).warnings}
    assert any(w.startswith(f"{EVAL}[testing_criteria][2]: grader 'text_similarity'") for w in warnings)
    assert any(w.startswith(f"{ITEMS}:3: recorded `sample` outputs") for w in warnings)


def test_a_single_passing_label_is_every_cases_label(tmp_path):
    definition = {
        "data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
        "testing_criteria": [
            {
                "type": "label_model",
                "name": "tone",
                "model": "o3-mini",
                "labels": ["polite", "rude"],
                "passing_labels": ["polite"],
                "input": [{"role": "user", "content": "Rate: {{item.reply}}"}],
            }
        ],
    }
    eval_path, items = _write(tmp_path, definition, [{"reply": "Thanks!"}, {"reply": "Sure, happy to help"}])
    result = import_file("openai-hosted-evals", eval_path, items=items)
    assert [c.expected for c in result.cases] == ["polite", "polite"] and result.labels == ["polite", "rude"]
    assert any("only passing label" in w.message for w in result.warnings)


def test_an_output_json_reference_suggests_json_output_with_that_label_field(tmp_path):
    definition = {"data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
                  "testing_criteria": [{"type": "string_check", "name": "m", "operation": "eq",
                                        "input": "{{sample.output_json.category}}", "reference": "{{item.gold}}"}]}
    eval_path, items = _write(tmp_path, definition, [{"text": "charged twice", "gold": "billing"}])
    result = import_file("openai-hosted-evals", eval_path, items=items)
    assert result.suite["task"] == {"labels": ["billing"], "output_format": "json", "label_field": "category"}
    assert result.suite["routes"]["base"]["prompt"] == "text: {{ text }}"


def test_items_that_break_the_item_schema_are_kept_with_a_warning(tmp_path):
    definition = {"data_source_config": {"type": "custom", "item_schema": {"type": "object", "required": ["ticket"]}},
                  "testing_criteria": [{"type": "string_check", "name": "m", "operation": "eq",
                                        "input": "{{sample.output_text}}", "reference": "{{item.label}}"}]}
    eval_path, items = _write(tmp_path, definition, [{"ticket": "a", "label": "x"}, {"body": "b", "label": "y"}])
    result = import_file("openai-hosted-evals", eval_path, items=items)
    assert len(result.cases) == 2
    assert [w.where for w in result.warnings if "item_schema" in w.message] == [f"{items}:2"]


def test_several_passing_labels_without_a_label_field_is_an_error(tmp_path):
    definition = {
        "testing_criteria": [
            {
                "type": "label_model",
                "name": "t",
                "model": "o3-mini",
                "labels": ["a", "b", "c"],
                "passing_labels": ["a", "b"],
                "input": [],
            }
        ]
    }
    eval_path, items = _write(tmp_path, definition, [{"text": "x"}])
    with pytest.raises(BadInput, match="pass --label-field"):
        import_file("openai-hosted-evals", eval_path, items=items)


def test_the_items_file_alone_imports_with_a_label_field(tmp_path):
    _, items = _write(tmp_path, {}, [{"input": "charged twice", "category": "billing"}])
    (case,) = import_file("openai-hosted-evals", items, label_field="category").cases
    assert case.input == "charged twice" and case.expected == "billing"


def test_a_run_template_is_the_prompt(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"object": "eval.run", "data_source": {
        "type": "completions", "model": "gpt-4.1-nano",
        "input_messages": {"type": "template", "template": [
            {"role": "system", "content": "Triage tickets."},
            {"role": "user", "content": {"type": "input_text", "text": "{{ item.ticket }}"}}]}}}), encoding="utf-8")
    suite = import_file("openai-hosted-evals", EVAL, items=ITEMS, run=run).suite
    route = suite["routes"]["prompted"]
    assert (route["system"], route["prompt"], route["model"]) == (
        "Triage tickets.",
        "{{ ticket }}",
        "openai:gpt-4.1-nano",
    )


def test_a_definition_without_items_says_how_to_pass_them():
    with pytest.raises(BadInput, match="pass --items"):
        import_file("openai-hosted-evals", EVAL)
