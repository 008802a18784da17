"""promptfoo tests (YAML and CSV) become evalkit cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import BadInput
from evalkit.importers import import_file
from evalkit.importers.promptfoo import parse_assertion

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def _csv(tmp_path, text: str) -> Path:
    path = tmp_path / "tests.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("cell, kind, value", [
    ("Paris", "equals", "Paris"),
    ("contains:Paris", "contains", "Paris"),
    ("equals: 30", "equals", " 30"),
    ("not-contains:Rome", "not-contains", "Rome"),
    ("similar(0.8):Hello there", "similar", "Hello there"),
    ("llm-rubric: is polite", "llm-rubric", "is polite"),
    ("Note: a plain answer", "equals", "Note: a plain answer"),
])
def test_expected_cells_split_like_promptfoo(cell, kind, value):
    assert parse_assertion(cell) == {"type": kind, "value": value}


def test_yaml_tests_map_vars_labels_metadata_and_tags():
    result = import_file("promptfoo", FIXTURES / "promptfoo_tests.yaml")
    first, second, third = result.cases
    assert first.input == {"product": "Northwind Cloud", "ticket": "I was charged twice this month"}
    assert first.expected == "billing" and first.tags == ["adjacent-labels"]
    assert first.metadata == {"owner": "dana", "description": "double charge"}
    assert third.expected == "login"
    assert result.labels == ["billing", "cancellation", "login"]


def test_an_assertion_value_naming_a_var_takes_the_label_from_it_and_drops_it_from_the_input():
    second = import_file("promptfoo", FIXTURES / "promptfoo_tests.yaml").cases[1]
    assert second.expected == "cancellation" and "gold" not in second.input


def test_assertions_that_give_no_label_are_kept_in_metadata_with_a_warning():
    result = import_file("promptfoo", FIXTURES / "promptfoo_tests.yaml")
    assert result.cases[2].metadata["promptfoo_assert"] == [{"type": "llm-rubric", "value": "is polite"}]
    assert any("llm-rubric" in w.message and w.where.endswith("promptfoo_tests.yaml:23") for w in result.warnings)


def test_csv_columns_map_to_input_label_description_and_metadata(tmp_path):
    path = _csv(
        tmp_path,
        "question,__expected,__description,__metadata:area,__metadata:tags[]\n"
        'Why was I charged twice?,equals:billing,double charge,payments,"urgent,repeat\\,customer"\n',
    )
    (case,) = import_file("promptfoo", path).cases
    assert case.input == {"question": "Why was I charged twice?"} and case.expected == "billing"
    assert case.metadata == {"description": "double charge", "area": "payments"}
    assert case.tags == ["urgent", "repeat,customer"]


def test_csv_takes_the_label_from_any_expected_column_and_a_plain_value_is_equals(tmp_path):
    path = _csv(tmp_path, "q,__expected1,__expected2\nfirst,llm-rubric: kind,contains: billing\nsecond,cancellation,\n")
    first, second = import_file("promptfoo", path).cases
    assert (first.expected, second.expected) == ("billing", "cancellation")


def test_equals_wins_over_contains_and_the_other_label_is_reported(tmp_path):
    path = _csv(tmp_path, "q,__expected1,__expected2\ntext,contains:billing,equals:refund\n")
    result = import_file("promptfoo", path)
    assert result.cases[0].expected == "refund"
    assert any("more than one label" in w.message for w in result.warnings)


def test_a_var_equal_to_the_label_on_every_row_is_left_out_of_the_input(tmp_path):
    path = _csv(tmp_path, "text,label,__expected\nI was charged twice,billing,contains:billing\n"
                          "close my account,cancellation,contains:cancellation\n")
    result = import_file("promptfoo", path)
    assert [c.input for c in result.cases] == [{"text": "I was charged twice"}, {"text": "close my account"}]
    assert any("'label' holds the expected label" in w.message for w in result.warnings)


def test_label_field_names_the_var_that_holds_the_label(tmp_path):
    path = _csv(tmp_path, "ticket,category\nI was charged twice,billing\n")
    (case,) = import_file("promptfoo", path, label_field="category").cases
    assert case.input == {"ticket": "I was charged twice"} and case.expected == "billing"


def test_a_lone_input_var_becomes_a_string_input(tmp_path):
    path = _csv(tmp_path, "input,__expected\nI was charged twice,billing\n")
    assert import_file("promptfoo", path).cases[0].input == "I was charged twice"


def test_a_row_without_a_label_is_an_error_naming_its_line(tmp_path):
    path = _csv(tmp_path, "q,__expected\nfirst,billing\nsecond,llm-rubric: helpful\n")
    with pytest.raises(BadInput, match=r"tests.csv:3: no expected label"):
        import_file("promptfoo", path)


def test_columns_without_an_evalkit_counterpart_are_reported_once_at_the_header(tmp_path):
    path = _csv(tmp_path, "q,__expected,__prefix\na,billing,Answer: \nb,refund,Answer: \n")
    result = import_file("promptfoo", path)
    prefix = [w for w in result.warnings if "__prefix" in w.message]
    assert len(prefix) == 1 and prefix[0].where.endswith("tests.csv:1")


def test_a_config_follows_its_tests_file_relative_to_itself(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("q,__expected\nhello,greeting\n", encoding="utf-8")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("tests: file://data/rows.csv\n", encoding="utf-8")
    (case,) = import_file("promptfoo", config).cases
    assert case.input == {"q": "hello"} and case.expected == "greeting" and case.origin.endswith("rows.csv:2")


def test_a_generated_tests_source_is_an_error(tmp_path):
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("tests: file://generate_tests.py:create_tests\n", encoding="utf-8")
    with pytest.raises(BadInput, match="generated or remote"):
        import_file("promptfoo", config)


def test_ids_are_a_stable_hash_of_the_input(tmp_path):
    path = _csv(tmp_path, "q,__expected\nhello,greeting\nbye,farewell\n")
    first = [c.id for c in import_file("promptfoo", path).cases]
    path.write_text("q,__expected\nbye,farewell\nhello,greeting\n", encoding="utf-8")
    second = [c.id for c in import_file("promptfoo", path).cases]
    assert first == second[::-1] and len(first[0]) == 10


def test_repeated_inputs_get_suffixed_ids_and_a_warning(tmp_path):
    path = _csv(tmp_path, "q,__expected\nhello,greeting\nhello,greeting\n")
    result = import_file("promptfoo", path)
    assert result.cases[1].id == result.cases[0].id + "-2"
    assert any("same input" in w.message and w.where.endswith(":3") for w in result.warnings)


def test_a_row_whose_vars_are_all_empty_is_an_error(tmp_path):
    path = _csv(tmp_path, "q,__expected\nhello,greeting\n,farewell\n")
    with pytest.raises(BadInput, match=r"tests.csv:3: the row has no input"):
        import_file("promptfoo", path)


def test_with_label_field_other_assertions_are_still_kept_in_metadata_with_a_warning(tmp_path):
    path = _csv(tmp_path, "text,category,__expected\nI was charged twice,billing,llm-rubric: is polite\n")
    result = import_file("promptfoo", path, label_field="category")
    (case,) = result.cases
    assert case.expected == "billing" and case.input == {"text": "I was charged twice"}
    assert case.metadata == {"promptfoo_assert": [{"type": "llm-rubric", "value": "is polite"}]}
    assert [w.message for w in result.warnings] == [
        "assertion 'llm-rubric' does not give a label: kept in metadata.promptfoo_assert"]
