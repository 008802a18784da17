"""A run whose rows are errors is never approved: it is not complete in its manifest, and the
gate applies a default error budget when the policy sets none."""

from __future__ import annotations

import json

import yaml

from evalkit.cli import main
from evalkit.gate import DEFAULT_ERROR_BUDGET
from evalkit.runner import RunOptions, run_suite
from recorded_runs import LABELS, build_run, cases_with

CASES = cases_with([LABELS[i % 3] for i in range(10)])
RIGHT = {cid: label for cid, label, _ in CASES}


def _timeouts(make_suite):
    from evalkit.providers import ProviderError
    from evalkit.providers.mock import script

    def timed_out(request):
        raise ProviderError("timeout", "no answer within 1 s (per-call timeout)", retryable=False)

    script("timed_out", timed_out)
    return make_suite(
        routes={
            "base": {"kind": "base", "model": "mock:expected"},
            "tuned": {"kind": "base", "model": "mock:timed_out"},
        }
    )


def test_a_run_that_exits_3_on_errors_is_not_complete_in_its_manifest(make_suite, tmp_path):
    result = run_suite(_timeouts(make_suite), RunOptions(out=tmp_path / "run", progress=False))
    assert result.exit_code == 3
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] != "complete"


def test_gate_exits_3_when_every_candidate_row_is_an_error_though_the_policy_sets_no_budget(
    make_suite, tmp_path, capsys
):
    run_suite(_timeouts(make_suite), RunOptions(out=tmp_path / "run", progress=False, max_error_rate=1.0))
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump({"candidate": "tuned", "baseline": "base", "max_drop": {"accuracy": 0.0}}))
    code = main(["gate", str(tmp_path / "run"), "--policy", str(policy)])
    assert code == 3 and "error_budget" in capsys.readouterr().out


def test_gate_exits_3_on_a_run_that_exited_3(make_suite, tmp_path):
    run_suite(_timeouts(make_suite), RunOptions(out=tmp_path / "run", progress=False))
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump({"candidate": "base", "min": {"accuracy": 0.0}}))
    assert main(["gate", str(tmp_path / "run"), "--policy", str(policy), "--allow-unverified"]) == 3


def test_errors_within_the_default_budget_still_let_the_gate_approve(tmp_path):
    few_errors = {**RIGHT, "c01": None}
    assert 1 / len(CASES) <= DEFAULT_ERROR_BUDGET
    run_dir = build_run(tmp_path, CASES, {"tuned": few_errors})
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump({"candidate": "tuned", "min": {"accuracy": 0.5}}))
    assert main(["gate", str(run_dir), "--policy", str(policy), "--allow-unverified"]) == 0
