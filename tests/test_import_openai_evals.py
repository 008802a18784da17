"""openai/evals samples (hand-written fixture) become evalkit cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.cases import load_cases
from evalkit.errors import BadInput
from evalkit.importers import import_file, write_cases

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "importers" / "openai_evals_samples.jsonl"


def test_every_sample_becomes_a_case_with_its_ideal_as_the_label():
    result = import_file("openai-evals", SAMPLES)
    assert [c.expected for c in result.cases] == ["billing", "cancellation", "login", "billing", "login"]
    assert result.labels == ["billing", "cancellation", "login"]


def test_string_input_stays_a_string_and_chat_input_stays_messages():
    cases = import_file("openai-evals", SAMPLES).cases
    assert cases[0].input == "I was charged twice for March"
    assert [m.role for m in cases[4].input] == ["user"]


def test_named_few_shot_system_messages_become_user_and_assistant_turns():
    chat = import_file("openai-evals", SAMPLES).cases[1].input
    assert [(m.role, m.content) for m in chat[1:3]] == [("user", "Cancel my plan"), ("assistant", "cancellation")]


def test_extra_ideals_go_to_metadata_with_a_warning_naming_the_line():
    result = import_file("openai-evals", SAMPLES)
    assert result.cases[2].metadata == {"other_ideal": ["bug"]}
    assert [str(w).split(": ", 1)[0] for w in result.warnings] == [f"{SAMPLES}:3"]


def test_given_id_is_kept_and_other_keys_go_to_metadata():
    case = import_file("openai-evals", SAMPLES).cases[3]
    assert case.id == "oe-4" and case.metadata == {"source": "forum"}


def test_origins_count_blank_lines():
    assert import_file("openai-evals", SAMPLES).cases[4].origin == f"{SAMPLES}:6"


def test_imported_cases_round_trip_through_the_case_loader(tmp_path):
    cases = import_file("openai-evals", SAMPLES).cases
    write_cases(cases, tmp_path / "cases.jsonl")
    loaded = load_cases(tmp_path / "cases.jsonl")
    assert [c.model_dump() for c in loaded] == [c.model_dump() for c in cases]


def test_a_sample_without_ideal_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"input": "hi", "ideal": "greeting"}\n{"input": "bye"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"samples.jsonl:2: the sample has no `ideal`"):
        import_file("openai-evals", path)


def test_label_field_reads_the_label_from_another_key(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"input": "hi", "ideal": "Hello there!", "intent": "greeting"}\n', encoding="utf-8")
    (case,) = import_file("openai-evals", path, label_field="intent").cases
    assert case.expected == "greeting" and case.metadata == {"ideal": "Hello there!"}
