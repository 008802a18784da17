"""Inspect AI samples (hand-written fixtures, JSONL and CSV) become evalkit cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import BadInput
from evalkit.importers import import_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def test_samples_keep_their_ids_and_targets():
    cases = import_file("inspect", FIXTURES / "inspect_samples.jsonl").cases
    assert [c.id for c in cases[:2]] == ["1", "s2"] and cases[3].id == "s4"
    assert [c.expected for c in cases] == ["A", "yes", "B", "yes"]


def test_choices_join_a_string_input_as_lettered_lines():
    case = import_file("inspect", FIXTURES / "inspect_samples.jsonl").cases[0]
    assert case.input == {"question": "What colour is the sky on a clear day?", "choices": "A) Blue\nB) Green\nC) Red"}


def test_chat_input_and_metadata_are_kept():
    case = import_file("inspect", FIXTURES / "inspect_samples.jsonl").cases[1]
    assert [m.role for m in case.input] == ["system", "user"] and case.metadata == {"source": "kb"}


def test_a_sample_without_id_gets_a_hash_and_a_one_item_target_list_is_its_label():
    case = import_file("inspect", FIXTURES / "inspect_samples.jsonl").cases[2]
    assert len(case.id) == 10 and case.expected == "B" and "other_target" not in case.metadata


def test_what_cannot_be_mapped_is_reported_with_its_line():
    warnings = import_file("inspect", FIXTURES / "inspect_samples.jsonl").warnings
    messages = {w.message.split(":")[0] for w in warnings if w.where.endswith("inspect_samples.jsonl:4")}
    assert messages == {"`sandbox` cannot be mapped to an evalkit case", "target lists 2 answers"}


def test_csv_samples_parse_choices_and_json_metadata():
    first, second = import_file("inspect", FIXTURES / "inspect_samples.csv").cases
    assert first.id == "q1" and first.expected == "B" and first.metadata == {"topic": "food"}
    assert first.input["choices"] == "A) carrot\nB) apple\nC) leek" and second.metadata == {}


def test_json_list_of_samples_is_read(tmp_path):
    path = tmp_path / "samples.json"
    path.write_text('[{"input": "2+2?", "target": "4"}, {"input": "3+3?", "target": 6}]', encoding="utf-8")
    assert [c.expected for c in import_file("inspect", path).cases] == ["4", "6"]


def test_a_sample_without_target_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"input": "2+2?", "target": "4"}\n{"input": "3+3?"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"samples.jsonl:2: the sample has no target"):
        import_file("inspect", path)


def test_a_tool_message_cannot_become_a_case(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"input": [{"role": "tool", "content": "42"}], "target": "4"}\n', encoding="utf-8")
    with pytest.raises(BadInput, match=r"samples.jsonl:1: message 0 has role 'tool'"):
        import_file("inspect", path)
