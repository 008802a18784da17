"""A result row has one constructor and one declared shape."""

from __future__ import annotations

from evalkit.rows import ROW_FIELDS, Row, result_row

IDENTITY = {"case_id": "c1", "route": "base", "repeat": 0, "tags": [], "provenance": "live", "attempts": 1}


def test_a_row_has_every_field_in_the_documented_order():
    row = result_row(**IDENTITY, expected_label="billing", predicted_label="billing", parsed_ok=True)
    assert tuple(row) == ROW_FIELDS


def test_every_field_of_a_row_is_declared_on_the_row_type():
    assert set(ROW_FIELDS) <= set(Row.__annotations__)


def test_a_parsed_answer_with_the_expected_label_is_correct():
    assert result_row(**IDENTITY, expected_label="billing", predicted_label="billing", parsed_ok=True)["correct"]


def test_a_failed_call_is_never_correct():
    error = {"type": "timeout", "message": "no answer"}
    assert not result_row(**IDENTITY, expected_label=None, error=error)["correct"]
