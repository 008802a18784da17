"""`evalkit compare` and `evalkit gate` on real runs: output, files and every exit code."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml

from evalkit.cli import main
from evalkit.compare import compare
from evalkit.store import load_run
from recorded_runs import LABELS, build_run, cases_with

CASES = cases_with([LABELS[i % 3] for i in range(12)], [["adjacent-labels"] if i < 6 else [] for i in range(12)])
RIGHT = {cid: label for cid, label, _ in CASES}
BASE = {**RIGHT, "c01": "cancellation", "c04": "cancellation", "c07": "cancellation"}
FLAKY = {**RIGHT, "c02": None, "c03": None}
GATE = {"candidate": "tuned", "baseline": "base", "min": {"accuracy": 0.9}, "max_drop": {"accuracy": 0.1}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("cli"), CASES, {"base": BASE, "tuned": RIGHT, "flaky": FLAKY}, gate=GATE)


@pytest.fixture(scope="module")
def bare_run_dir(tmp_path_factory):
    """A run whose suite has no gate: section."""
    return build_run(tmp_path_factory.mktemp("bare"), CASES, {"base": BASE, "tuned": RIGHT})


def test_compare_json_is_the_python_apis_result(run_dir, capsys):
    a, b = f"{run_dir}:base", f"{run_dir}:tuned"
    assert main(["compare", a, b, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    run = load_run(run_dir)
    assert printed == json.loads(json.dumps(compare(run, "base", run, "tuned", refs=(a, b))))
    assert printed["a"] == a and printed["b"] == b


def test_compare_prints_a_readable_table(run_dir, capsys):
    assert main(["compare", f"{run_dir}:base", f"{run_dir}:tuned"]) == 0
    out = capsys.readouterr().out
    assert "accuracy (Newcombe)" in out and "McNemar on correctness: b=0" in out
    assert "fixed by B (3): c01, c04, c07" in out


def test_compare_across_two_runs(run_dir, bare_run_dir, capsys):
    assert main(["compare", f"{bare_run_dir}:tuned", f"{run_dir}:tuned", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["accuracy"]["delta"] == 0.0


def test_compare_without_a_route_is_exit_2(run_dir, capsys):
    assert main(["compare", str(run_dir), f"{run_dir}:tuned"]) == 2
    assert "expected RUN_DIR:ROUTE" in capsys.readouterr().err


def test_gate_approves_with_exit_0(run_dir, capsys):
    assert main(["gate", str(run_dir), "--allow-unverified"]) == 0
    assert "verdict: APPROVE: " in capsys.readouterr().out


def test_a_failing_gate_exits_1_and_prints_the_reason_on_the_checks_line(run_dir, capsys):
    assert main(["gate", str(run_dir), "--route", "flaky"]) == 1  # no error budget: the errors only cost accuracy
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("min.accuracy"))
    assert (
        "0.833" in line
        and ">= 0.900" in line
        and "FAIL" in line
        and "accuracy 0.833 (n=12) is below the floor 0.900" in line
    )


def test_gate_with_errors_beyond_the_budget_exits_3(run_dir, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"min": {"accuracy": 0.99}, "error_budget": 0.1}))
    assert main(["gate", str(run_dir), "--route", "flaky", "--policy", str(policy)]) == 3
    out = capsys.readouterr().out
    assert "error_budget.candidate" in out and "min.accuracy" in out and "(exit 3)" in out


def test_gate_without_any_policy_exits_2_and_says_so(bare_run_dir, capsys):
    assert main(["gate", str(bare_run_dir), "--route", "tuned"]) == 2
    assert "no gate policy" in capsys.readouterr().err


def test_gate_with_a_bad_policy_file_exits_2_naming_the_key(run_dir, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("min:\n  acuracy: 0.8\n")
    assert main(["gate", str(run_dir), "--policy", str(policy)]) == 2
    assert "policy.yaml:2: unknown key 'min.acuracy' (did you mean 'accuracy'?)" in capsys.readouterr().err


def test_gate_with_an_unknown_route_exits_2(run_dir, capsys):
    assert main(["gate", str(run_dir), "--route", "nope"]) == 2
    assert "route 'nope' is not in this run" in capsys.readouterr().err


def test_gate_baseline_from_another_run(run_dir, bare_run_dir, capsys):
    assert main(["gate", str(run_dir), "--baseline", f"{bare_run_dir}:base", "--json", "--allow-unverified"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["baseline"] == f"{bare_run_dir}:base" and verdict["decision"] == "approve"
    assert any(c["name"] == "complete.baseline" for c in verdict["checks"])


def test_gate_writes_junit_xml_that_parses(run_dir, tmp_path, capsys):
    junit = tmp_path / "out" / "gate.xml"
    assert main(["gate", str(run_dir), "--route", "flaky", "--junit", str(junit)]) == 1
    root = ET.parse(junit).getroot()
    failure = next(c for c in root.iter("testcase") if c.get("name") == "min.accuracy").find("failure")
    assert failure.get("message") == "accuracy 0.833 (n=12) is below the floor 0.900"


def test_gate_appends_its_markdown_summary(run_dir, tmp_path, capsys):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# Earlier step\n")
    assert main(["gate", str(run_dir), "--summary", str(summary), "--allow-unverified"]) == 0
    text = summary.read_text()
    assert text.startswith("# Earlier step\n")
    assert (
        "## evalkit gate: ✅ approve — NOT EVIDENCE" in text and "| min.accuracy | 1.000 | >= 0.900 | ✅ PASS |" in text
    )
    assert "<details><summary>Comparison with the baseline</summary>" in text


def test_the_schema_shows_the_gate_policy(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$defs"]["GatePolicy"]["additionalProperties"] is False
    assert "max_drop" in schema["$defs"]["GatePolicy"]["properties"]


def test_a_suite_with_an_unknown_gate_key_is_bad_input(tmp_path, capsys):
    (tmp_path / "cases.jsonl").write_text('{"id": "c1", "input": "x", "expected": "a"}\n')
    (tmp_path / "suite.yaml").write_text(
        "name: s\ntask: {labels: [a, b], output_format: text}\ncases: cases.jsonl\n"
        "routes: {r: {kind: base, model: 'mock:expected'}}\ngate:\n  error_budjet: 0.1\n")
    assert main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "suite.yaml:6: unknown key 'gate.error_budjet' (did you mean 'error_budget'?)" in capsys.readouterr().err
