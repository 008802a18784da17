"""evalkit import: writes cases JSONL, prints the label set and what could not be mapped."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evalkit.cases import load_cases
from evalkit.cli import main
from evalkit.suite import load_suite

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def test_import_writes_loadable_cases_and_prints_the_labels_to_paste(tmp_path, capsys):
    out = tmp_path / "datasets" / "triage" / "cases.jsonl"
    code = main(["import", "openai-evals", str(FIXTURES / "openai_evals_samples.jsonl"), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0 and len(load_cases(out)) == 5
    assert 'labels: ["billing", "cancellation", "login"]' in printed.out
    assert f"{FIXTURES / 'openai_evals_samples.jsonl'}:3: ideal lists 2 answers" in printed.err


def test_import_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "cases.jsonl"
    out.write_text("keep me\n")
    assert main(["import", "inspect", str(FIXTURES / "inspect_samples.csv"), "--out", str(out)]) == 2
    assert out.read_text() == "keep me\n" and "--force" in capsys.readouterr().err
    assert main(["import", "inspect", str(FIXTURES / "inspect_samples.csv"), "--out", str(out), "--force"]) == 0


def test_a_row_that_cannot_be_mapped_exits_2_naming_its_line(tmp_path, capsys):
    source = tmp_path / "rows.tsv"
    source.write_text("charged twice\tbilling\nno label here\t\n", encoding="utf-8")
    code = main(["import", "csv", str(source), "--columns", "text,label", "--out", str(tmp_path / "cases.jsonl")])
    assert code == 2 and f"{source}:2: the row has no expected label" in capsys.readouterr().err
    assert not (tmp_path / "cases.jsonl").exists()


def test_json_output_carries_counts_labels_and_warnings(tmp_path, capsys):
    out = tmp_path / "cases.jsonl"
    assert main(["import", "promptfoo", str(FIXTURES / "promptfoo_tests.yaml"), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cases"] == 3 and report["labels"] == ["billing", "cancellation", "login"]
    assert {"where", "message"} == set(report["warnings"][0]) and report["suite"] is None


def test_the_suggested_hosted_suite_loads_as_a_suite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["import", "openai-hosted-evals", str(FIXTURES / "hosted_eval.json"),
                 "--items", str(FIXTURES / "hosted_items.jsonl"), "--out", "cases.jsonl", "--json"]) == 0
    suite = json.loads(capsys.readouterr().out)["suite"]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite), encoding="utf-8")
    loaded = load_suite(tmp_path / "suite.yaml")
    assert len(loaded.cases) == 4 and loaded.labels == ["billing", "cancellation", "login"]


def test_split_option_is_written_into_the_cases(tmp_path):
    out = tmp_path / "cases.jsonl"
    assert (
        main(["import", "inspect", str(FIXTURES / "inspect_samples.csv"), "--out", str(out), "--split", "train"]) == 0
    )
    assert {c.split for c in load_cases(out)} == {"train"}


def test_the_command_offers_every_registered_format():
    from evalkit.commands.import_cases import FORMAT_NAMES
    from evalkit.importers import FORMATS

    assert list(FORMAT_NAMES) == list(FORMATS)
