"""Plain CSV/TSV with a text and a label column become evalkit cases."""

from __future__ import annotations

import pytest

from evalkit.errors import BadInput
from evalkit.importers import import_file


def _file(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_header_with_text_and_label_needs_no_options(tmp_path):
    path = _file(tmp_path, "rows.csv", "text,label,channel\ncharged twice,billing,email\n")
    (case,) = import_file("csv", path).cases
    assert (case.input, case.expected, case.metadata) == ("charged twice", "billing", {"channel": "email"})


def test_headerless_tsv_takes_its_columns_from_the_option(tmp_path):
    path = _file(tmp_path, "rows.tsv", "charged twice\tbilling\nclose my account\tcancellation\n")
    cases = import_file("csv", path, columns=["text", "label"]).cases
    assert [(c.input, c.expected) for c in cases] == [
        ("charged twice", "billing"),
        ("close my account", "cancellation"),
    ]


def test_a_first_row_repeating_the_column_names_is_read_as_a_header_with_a_warning(tmp_path):
    path = _file(tmp_path, "rows.tsv", "text\tlabel\ncharged twice\tbilling\n")
    result = import_file("csv", path, columns=["text", "label"])
    assert len(result.cases) == 1
    assert [str(w) for w in result.warnings] == [
        f"{path}:1: the first row repeats the --columns names: read as a header"
    ]


def test_other_column_names_are_chosen_with_text_and_label_fields(tmp_path):
    path = _file(tmp_path, "rows.csv", "id,utterance,intent,tags\nb1,charged twice,billing,adjacent;terse\n")
    (case,) = import_file("csv", path, text_field="utterance", label_field="intent").cases
    assert (case.id, case.input, case.expected, case.tags) == ("b1", "charged twice", "billing", ["adjacent", "terse"])


def test_common_intent_dataset_columns_need_no_options(tmp_path):
    banking = _file(tmp_path, "banking.csv", "text,category\nWhere is my card?,card_arrival\n")
    bitext = _file(tmp_path, "bitext.csv", "instruction,intent,category\ncancel order 12,cancel_order,ORDER\n")
    assert [(c.input, c.expected) for c in import_file("csv", banking).cases] == [("Where is my card?", "card_arrival")]
    assert [(c.input, c.expected) for c in import_file("csv", bitext).cases] == [("cancel order 12", "cancel_order")]


def test_a_missing_label_column_says_how_to_name_it(tmp_path):
    path = _file(tmp_path, "rows.csv", "text,topic\ncharged twice,billing\n")
    with pytest.raises(BadInput, match=r"rows.csv:1: no label column.*--label-field"):
        import_file("csv", path)


def test_an_empty_label_is_an_error_naming_the_line(tmp_path):
    path = _file(tmp_path, "rows.csv", 'text,label\n"charged\ntwice",billing\nclose it,\n')
    with pytest.raises(BadInput, match=r"rows.csv:4: the row has no expected label"):
        import_file("csv", path)


def test_a_short_row_is_an_error_naming_the_line(tmp_path):
    path = _file(tmp_path, "rows.tsv", "charged twice\tbilling\nclose my account\n")
    with pytest.raises(BadInput, match=r"rows.tsv:2: the row has 1 cells, expected 2"):
        import_file("csv", path, columns=["text", "label"])


def test_a_row_of_empty_cells_is_skipped_with_a_warning(tmp_path):
    path = _file(tmp_path, "rows.csv", "text,label\ncharged twice,billing\n,\n")
    result = import_file("csv", path)
    assert len(result.cases) == 1 and result.warnings[0].where == f"{path}:3"


def test_split_option_marks_every_case(tmp_path):
    path = _file(tmp_path, "rows.csv", "text,label\ncharged twice,billing\n")
    assert import_file("csv", path, split="train").cases[0].split == "train"


def test_a_column_named_twice_is_an_error_not_a_silently_dropped_cell(tmp_path):
    path = _file(tmp_path, "rows.csv", "text,label,text\ncharged twice,billing,close my account\n")
    with pytest.raises(BadInput, match=r"rows.csv:1: the header names a column twice: text"):
        import_file("csv", path)
    with pytest.raises(BadInput, match=r"the header names a column twice: label"):
        import_file("csv", _file(tmp_path, "rows.tsv", "a\tb\tc\n"), columns=["text", "label", "label"])


def test_columns_may_skip_several_cells_with_underscores(tmp_path):
    path = _file(tmp_path, "rows.tsv", "x\tcharged twice\ty\tbilling\n")
    (case,) = import_file("csv", path, columns=["_", "text", "_", "label"]).cases
    assert (case.input, case.expected, case.metadata) == ("charged twice", "billing", {})
