"""A JSONL case file is validated in one pass: the cases, their origins and every error
message are what validating case by case gives."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from evalkit.cases import _case_from, load_cases, normalise_text
from evalkit.errors import BadInput
from evalkit.suite import cases_digest

RECORDS = [
    {"id": "c1", "input": "Wo ist meine Karte? ümlaut, ☃", "expected": "card_arrival", "tags": ["de"]},
    {"id": "c2", "input": {"subject": "Charge", "body": "twice"}, "expected": "billing", "split": "train"},
    {
        "id": "c3",
        "input": [{"role": "user", "content": "hi"}],
        "expected": {"label": "other", "why": "x"},
        "metadata": {"channel": "chat"},
        "sources": ["faq"],
    },
    {"id": "c4", "input": "plain", "expected": "other", "grades": {"tone": 3}, "rejected": "nope"},
]


def _write(path, records, blank_lines=False):
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text(("\n\n" if blank_lines else "\n").join(lines) + "\n", encoding="utf-8")


def _one_by_one(path):
    numbered = [
        (n, json.loads(line)) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()
    ]
    return [_case_from(record, f"{path}:{n}") for n, record in numbered]


@pytest.mark.parametrize("blank_lines", [False, True])
def test_cases_read_in_one_pass_equal_cases_read_one_by_one(tmp_path, blank_lines):
    path = tmp_path / "cases.jsonl"
    _write(path, RECORDS, blank_lines)
    loaded, expected = load_cases(path), _one_by_one(path)
    assert [c.model_dump() for c in loaded] == [c.model_dump() for c in expected]
    assert [c.origin for c in loaded] == [c.origin for c in expected]
    assert [c.model_fields_set for c in loaded] == [c.model_fields_set for c in expected]
    assert loaded[2].origin.endswith(":5" if blank_lines else ":3")


def test_a_bad_case_among_many_is_named_by_its_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    _write(path, [*RECORDS, {"id": "c5", "input": "x"}, {"id": "c6", "input": "y", "expected": "z", "lable": 1}])
    with pytest.raises(BadInput, match=re.escape(f"{path}:5") + r".*missing required key 'expected'"):
        load_cases(path)


def test_a_record_that_is_not_an_object_is_named_by_its_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(BadInput, match=re.escape(f"{path}:2") + r".*got list"):
        load_cases(path)


def test_a_case_that_names_an_origin_of_its_own_gets_its_file_and_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    _write(path, [RECORDS[0], {**RECORDS[3], "origin": "somewhere else"}])
    assert [c.origin for c in load_cases(path)] == [f"{path}:1", f"{path}:2"]


@pytest.mark.parametrize(
    "text",
    [
        "  Hello,   World!! ",
        "tab\there\nnew line",
        "no-break\u00a0space\u2028line",
        "ÉTÉ — déjà vu…",
        "snake_case stays",
        "",
        "   ",
        "\u3000ideographic\u3000space",
    ],
)
def test_normalised_text_is_lower_case_without_punctuation_with_single_spaces(text):
    by_definition = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()
    assert normalise_text(text) == by_definition


def test_the_cases_digest_is_the_sha256_of_every_cases_json_in_order(tmp_path):
    path = tmp_path / "cases.jsonl"
    _write(path, RECORDS)
    cases = load_cases(path)
    digest = hashlib.sha256()
    for case in cases:
        digest.update(case.model_dump_json().encode())
    assert cases_digest(cases) == digest.hexdigest()
    assert cases_digest(cases[::-1]) != digest.hexdigest()


def test_json_escapes_and_numbers_read_as_the_json_module_reads_them(tmp_path):
    path = tmp_path / "cases.jsonl"
    lines = [
        r'{"id": "e1", "input": "caf\u00e9 \ud83d\ude00 tab\t \"q\" \\ \/", "expected": "x"}',
        '{"id": "e2", "input": "x", "expected": "y", "metadata": {"f": 1.5e-7, "i": 12345678901234567890, '
        '"n": null, "b": [true, false], "d": {"k": -0.0}}}',
        '{"id": "e3", "input": "dup", "expected": "first", "expected": "second"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded, expected = load_cases(path), _one_by_one(path)
    assert [c.model_dump() for c in loaded] == [c.model_dump() for c in expected]
    assert loaded[1].metadata["i"] == 12345678901234567890 and loaded[2].expected == "second"


def test_a_line_that_is_not_json_is_named_as_before(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{not json}\n", encoding="utf-8")
    with pytest.raises(BadInput, match=re.escape(f"{path}:2") + r".*invalid JSON"):
        load_cases(path)
