"""The insurance-ticket files in ../shared import (promptfoo CSV and headerless TSV), load and run offline."""

from __future__ import annotations

from collections import Counter

import yaml

from conftest import needs_shared
from evalkit.cases import load_cases
from evalkit.importers import import_file, write_cases
from evalkit.runner import RunOptions, run_suite
from evalkit.store import load_run

# SOURCE.md of anthropic_insurance_tickets: test-set counts per label
TEST_COUNTS = {"Billing Inquiries": 6, "Policy Administration": 6, "Claims Assistance": 6, "Coverage Explanations": 9,
               "Quotes and Proposals": 5, "Account Management": 6, "Billing Disputes": 9, "Claims Disputes": 9,
               "Policy Comparisons": 5, "General Inquiries": 7}
FIRST_TICKET = ("I'm confused about a charge on my recent auto insurance bill that's higher than my usual premium "
                "payment. Can you clarify what this extra fee is for and why it was added?")


def _suite(tmp_path, cases: str | dict, prompt: str) -> object:
    suite = {"name": "insurance", "task": {"labels": sorted(TEST_COUNTS), "output_format": "text"}, "cases": cases,
             "routes": {"base": {"kind": "base", "model": "local:keywords", "prompt": prompt},
                        "oracle": {"kind": "base", "model": "mock:expected", "prompt": prompt}}}
    if isinstance(cases, dict):
        suite["allow_outside_paths"] = True  # the shared datasets sit outside tmp_path
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_promptfoo_csv_imports_68_cases_with_the_10_labels():
    result = import_file("promptfoo", needs_shared("anthropic_insurance_tickets", "dataset.csv"))
    assert len(result.cases) == 68 and result.labels == sorted(TEST_COUNTS)
    assert Counter(c.expected for c in result.cases) == TEST_COUNTS
    assert result.cases[0].input == {"text": FIRST_TICKET} and result.cases[0].expected == "Billing Inquiries"


def test_headerless_tsv_imports_the_same_tickets_with_the_same_labels():
    tsv = import_file("csv", needs_shared("anthropic_insurance_tickets", "test.tsv"), columns=["text", "label"])
    csv = import_file("promptfoo", needs_shared("anthropic_insurance_tickets", "dataset.csv"))
    assert len(tsv.cases) == 68 and tsv.labels == sorted(TEST_COUNTS)
    assert [(c.input, c.expected) for c in tsv.cases] == [(c.input["text"], c.expected) for c in csv.cases]


def test_the_promptfoo_config_reads_its_tests_file():
    result = import_file("promptfoo", needs_shared("anthropic_insurance_tickets", "promptfooconfig.yaml"))
    assert len(result.cases) == 68 and Counter(c.expected for c in result.cases) == TEST_COUNTS


def test_a_suite_pointing_at_the_promptfoo_csv_loads_and_runs_offline(tmp_path):
    source = needs_shared("anthropic_insurance_tickets", "dataset.csv")
    suite = _suite(tmp_path, {"path": str(source), "format": "promptfoo"}, "{{ text }}")
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))
    rows = load_run(result.run_dir).rows
    assert result.complete and len(rows) == 2 * 68
    assert Counter(r["expected_label"] for r in rows if r["route"] == "base") == TEST_COUNTS
    assert result.summary["routes"]["oracle"]["accuracy"]["value"] == 1.0
    assert result.summary["routes"]["base"]["parse_rate"]["value"] == 1.0


def test_imported_tsv_cases_load_and_run_offline(tmp_path):
    result = import_file("csv", needs_shared("anthropic_insurance_tickets", "test.tsv"), columns=["text", "label"])
    write_cases(result.cases, tmp_path / "cases.jsonl")
    assert len(load_cases(tmp_path / "cases.jsonl")) == 68
    run = run_suite(_suite(tmp_path, "cases.jsonl", "{{ input }}"), RunOptions(out=tmp_path / "run", progress=False))
    assert run.complete and run.summary["routes"]["base"]["n"] == 68
    assert run.summary["routes"]["oracle"]["accuracy"]["value"] == 1.0


def test_banking77_test_csv_imports_every_row_with_its_77_categories():
    import json

    categories = json.loads(needs_shared("banking77", "categories.json").read_text(encoding="utf-8"))
    result = import_file("csv", needs_shared("banking77", "test.csv"))
    assert len(result.cases) == 3080 and len({c.id for c in result.cases}) == 3080
    assert result.labels == sorted(categories) and len(result.labels) == 77
