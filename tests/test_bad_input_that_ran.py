"""Bad input that used to run: each now exits 2 before any call, naming the key or file."""

from __future__ import annotations

import json

import pytest

from conftest import HOLDOUT
from evalkit.cli import main
from evalkit.providers.mock import script
from evalkit.store import load_run


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", *args, "--no-progress"])
    return code, capsys.readouterr().err


def counting_route(calls: list) -> dict:
    def answer(request):
        calls.append(request.case_id)
        return json.dumps({"label": request.case.expected})

    script("counting", answer)
    return {"base": {"kind": "base", "model": "mock:counting"}}


def test_duplicate_key_in_the_suite_yaml_names_the_key_and_its_line(make_suite, capsys):
    path = make_suite()
    text = path.read_text()
    path.write_text(text + "name: again\n")
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "duplicate key 'name'" in err
    assert f"suite.yaml:{len(text.splitlines()) + 1}" in err


def test_duplicate_nested_key_in_the_suite_yaml_exits_2(make_suite, capsys):
    path = make_suite()
    path.write_text(
        path.read_text().replace(
            "routes:\n  base:\n", "routes:\n  base:\n    kind: base\n    model: mock:echo\n  base:\n"
        )
    )
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "duplicate key 'base'" in err


@pytest.mark.parametrize("rate", ["2", "-1", "nan"])
def test_max_error_rate_outside_0_to_1_exits_2_before_any_call(make_suite, tmp_path, capsys, rate):
    calls: list = []
    path = make_suite(routes=counting_route(calls))
    code, err = run_cli(capsys, str(path), "--out", str(tmp_path / "run"), f"--max-error-rate={rate}")
    assert code == 2 and "--max-error-rate" in err and not calls


@pytest.mark.parametrize("rate", ["0", "1"])
def test_max_error_rate_at_either_end_of_the_range_is_accepted(make_suite, tmp_path, capsys, rate):
    code, _ = run_cli(capsys, str(make_suite()), "--out", str(tmp_path / "run"), f"--max-error-rate={rate}")
    assert code == 0


def test_resume_of_a_run_holding_rows_of_a_route_the_suite_lacks_exits_2(make_suite, tmp_path, capsys):
    path = make_suite()
    assert run_cli(capsys, str(path), "--out", str(tmp_path / "run"))[0] == 0
    results = tmp_path / "run" / "results.jsonl"
    ghost = {**json.loads(results.read_text().splitlines()[0]), "route": "ghost"}
    with results.open("a") as handle:
        handle.write(json.dumps(ghost) + "\n")
    code, err = run_cli(capsys, str(path), "--resume", str(tmp_path / "run"))
    assert code == 2 and "'ghost'" in err and "results.jsonl" in err
    assert "ghost" not in json.loads((tmp_path / "run" / "summary.json").read_text())["routes"]


def test_label_field_not_in_the_output_schema_exits_2_naming_it(make_suite, capsys):
    calls: list = []
    path = make_suite(routes=counting_route(calls),
                      task={"labels": ["billing_dispute", "cancellation", "login_failure"], "output_format": "json",
                            "label_field": "category", "output_schema": {
                                "type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}}})
    code, err = run_cli(capsys, str(path))
    assert code == 2 and "task.label_field" in err and "'category'" in err and not calls


def test_label_field_under_a_nested_object_of_the_schema_is_accepted(make_suite, tmp_path, capsys):
    schema = {
        "type": "object",
        "properties": {"result": {"type": "object", "properties": {"label": {"type": "string"}}}},
    }
    cases = [{**c, "expected": {"result": {"label": c["expected"]}}} for c in HOLDOUT]
    path = make_suite(
        cases,
        task={
            "labels": ["billing_dispute", "cancellation", "login_failure"],
            "output_format": "json",
            "label_field": "result.label",
            "output_schema": schema,
        },
    )
    code, _ = run_cli(capsys, str(path), "--out", str(tmp_path / "run"))
    assert code == 0 and all(r["correct"] for r in load_run(tmp_path / "run").rows)


def test_utf8_bom_at_the_start_of_cases_jsonl_is_accepted(make_suite, tmp_path, capsys):
    path = make_suite()
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(b"\xef\xbb\xbf" + cases.read_bytes())
    code, _ = run_cli(capsys, str(path), "--out", str(tmp_path / "run"))
    assert code == 0


def test_utf8_bom_at_the_start_of_the_suite_is_accepted(make_suite, tmp_path, capsys):
    path = make_suite()
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, _ = run_cli(capsys, str(path), "--out", str(tmp_path / "run"))
    assert code == 0
