"""Case files in JSONL, CSV and YAML carry the same fields."""

from __future__ import annotations

import pytest

from evalkit.cases import load_cases
from evalkit.errors import BadInput


def test_csv_puts_tags_and_sources_as_semicolon_lists(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text('id,input,expected,tags,split,sources\n'
                    'c1,"charged twice, again",billing_dispute,adjacent-labels;terse,holdout,billing\n'
                    'c2,cancel please,cancellation,,train,\n')
    first, second = load_cases(path)
    assert first.input == "charged twice, again" and first.tags == ["adjacent-labels", "terse"]
    assert first.sources == ["billing"] and second.split == "train" and second.tags == []


def test_csv_without_an_input_column_makes_an_object_of_the_other_columns(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("id,subject,body,expected,metadata.channel\nc1,Charge,Twice,billing_dispute,email\n")
    (case,) = load_cases(path)
    assert case.input == {"subject": "Charge", "body": "Twice"} and case.metadata == {"channel": "email"}


def test_csv_with_an_embedded_newline_stays_one_case(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text('id,input,expected\nc1,"line one\nline two",billing_dispute\nc2,x,cancellation\n')
    cases = load_cases(path)
    assert [c.id for c in cases] == ["c1", "c2"] and cases[0].input == "line one\nline two"


def test_yaml_case_file_is_a_list_or_a_cases_mapping(tmp_path):
    listed, mapped = tmp_path / "a.yaml", tmp_path / "b.yaml"
    listed.write_text("- {id: c1, input: hi, expected: other}\n")
    mapped.write_text("cases:\n  - {id: c1, input: hi, expected: other, tags: [easy]}\n")
    assert load_cases(listed)[0].id == "c1" and load_cases(mapped)[0].tags == ["easy"]


def test_yaml_case_error_names_the_line_of_the_case(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text("- {id: c1, input: hi, expected: other}\n- {id: c2, input: hi}\n")
    with pytest.raises(BadInput, match=r"cases.yaml:2.*missing required key 'expected'"):
        load_cases(path)


def test_chat_message_input_is_accepted(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "c1", "input": [{"role": "user", "content": "hello"}], "expected": "other"}\n')
    (case,) = load_cases(path)
    assert case.text() == "user: hello"


def test_unknown_case_key_is_named(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "c1", "input": "x", "expected": "other", "lable": "y"}\n')
    with pytest.raises(BadInput, match=r"cases.jsonl:1: unknown key 'lable'"):
        load_cases(path)


def test_an_unknown_file_type_is_bad_input(tmp_path):
    path = tmp_path / "cases.txt"
    path.write_text("x")
    with pytest.raises(BadInput, match="expected .jsonl, .csv"):
        load_cases(path)
