"""evalkit run end to end with offline providers: the run directory and its rows."""

from __future__ import annotations

import json

import pytest

from conftest import HOLDOUT, TRAIN, make_case
from evalkit.cli import main
from evalkit.runner import RunOptions, run_suite
from evalkit.store import load_run

ROW_FIELDS = {"case_id", "route", "repeat", "tags", "expected_label", "output", "parsed_ok", "parse_error",
              "predicted_label", "correct", "error", "latency_ms", "input_tokens", "output_tokens", "cost_usd",
              "cached", "retrieved"}


def test_run_writes_the_four_files_and_prints_the_table(make_suite, tmp_path, capsys):
    code = main(["run", str(make_suite()), "--out", str(tmp_path / "run"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("manifest.json", "results.jsonl", "summary.json", "report.md"):
        assert (tmp_path / "run" / name).exists() and str(tmp_path / "run" / name) in out
    assert "parse rate" in out and "accuracy" in out and "kappa" in out and "macro-F1" in out


def test_every_row_carries_the_design_fields(make_suite, tmp_path):
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    rows = load_run(result.run_dir).rows
    assert len(rows) == len(HOLDOUT)
    assert all(set(row) >= ROW_FIELDS for row in rows)


def test_repeats_give_one_row_per_case_route_and_repeat(make_suite, tmp_path):
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", repeats=3, progress=False))
    keys = {(r["case_id"], r["route"], r["repeat"]) for r in load_run(result.run_dir).rows}
    assert len(keys) == len(HOLDOUT) * 3 and {k[2] for k in keys} == {0, 1, 2}
    assert result.summary["routes"]["base"]["n"] == len(HOLDOUT)  # n counts cases
    assert result.summary["routes"]["base"]["n_rows"] == len(HOLDOUT) * 3


def test_manifest_records_suite_hashes_version_and_routes(make_suite, tmp_path):
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["suite"]["sha256"]) == 64
    assert len(manifest["cases_sha256"]) == 64 and manifest["evalkit_version"]
    route = manifest["routes"]["base"]
    assert (route["kind"], route["model"], route["ran_as"], route["provider"]) == (
        "base",
        "mock:expected",
        "mock:expected",
        "mock",
    )
    assert manifest["started_at"] and manifest["ended_at"] and "commit" in manifest["git"]


def test_manifest_carries_the_fine_tuned_routes_origin_and_training_cost(make_suite, tmp_path):
    tuned = {
        "kind": "finetuned",
        "model": "mock:expected",
        "base_model": "gpt-4.1-mini-2025-04-14",
        "job_id": "ftjob-1",
        "provider": "openai",
        "trained_tokens": 840000,
        "training_cost_usd": 4.2,
    }
    result = run_suite(make_suite(routes={"tuned": tuned}), RunOptions(out=tmp_path / "run", progress=False))
    route = result.manifest["routes"]["tuned"]
    assert {k: route[k] for k in ("base_model", "job_id", "trained_tokens", "training_cost_usd")} == {
        "base_model": "gpt-4.1-mini-2025-04-14",
        "job_id": "ftjob-1",
        "trained_tokens": 840000,
        "training_cost_usd": 4.2,
    }


def test_paths_resolve_against_the_suite_folder(make_suite, tmp_path, monkeypatch):
    suite = make_suite()
    monkeypatch.chdir("/")
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))
    assert result.summary["routes"]["base"]["accuracy"]["value"] == 1.0


def test_only_holdout_cases_are_evaluated(make_suite, tmp_path):
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    assert {r["case_id"] for r in load_run(result.run_dir).rows} == {c["id"] for c in HOLDOUT}


def test_a_failing_provider_gives_error_rows_and_exit_3_beyond_the_error_rate(make_suite, tmp_path, capsys):
    from evalkit.providers import ProviderError
    from evalkit.providers.mock import script

    def broken(request):
        raise ProviderError("auth_error", "invalid key")

    script("broken", broken)
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:broken"}})
    code = main(["run", str(suite), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3 and "are errors" in err
    rows = load_run(tmp_path / "run").rows
    assert len(rows) == len(HOLDOUT) and all(r["error"]["type"] == "auth_error" for r in rows)


def test_an_unexpected_provider_exception_is_an_error_row_not_a_crash(make_suite, tmp_path):
    from evalkit.providers.mock import script

    script("buggy", lambda request: 1 / 0)
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:buggy"}})
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False, max_error_rate=1.0))
    assert result.exit_code == 0
    assert result.summary["routes"]["base"]["errors_by_type"] == {"ZeroDivisionError": len(HOLDOUT)}


def test_retryable_errors_are_retried_and_attempts_recorded(make_suite, tmp_path):
    from evalkit.providers import ProviderError
    from evalkit.providers.mock import script

    seen: dict[str, int] = {}

    def flaky(request):
        seen[request.case_id] = seen.get(request.case_id, 0) + 1
        if seen[request.case_id] == 1:
            raise ProviderError("rate_limit", "slow down", retryable=True, retry_after_s=0)
        return json.dumps({"label": request.case.expected})

    script("flaky", flaky)
    suite = make_suite(routes={"base": {"kind": "base", "model": "mock:flaky"}})
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False, backoff_s=0.001))
    rows = load_run(result.run_dir).rows
    assert all(r["attempts"] == 2 and r["correct"] for r in rows)
    assert result.manifest["retries"] == len(HOLDOUT)


def test_rag_summary_has_retrieval_recall_and_mrr_for_cases_with_sources(make_suite, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "billing.md").write_text("Double charges and charges after cancellation are billing disputes.")
    (docs / "login.md").write_text("Sign in errors and password problems are login failures.")
    cases = TRAIN + [make_case("h1", "billing_dispute", "I see double charges", sources=["billing"]),
                     make_case("h2", "login_failure", "password problems again", sources=["billing"])]
    suite = make_suite(
        cases, corpus="docs", routes={"rag": {"kind": "rag", "model": "mock:expected", "retrieval": {"k": 1}}}
    )
    result = run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))
    retrieval = result.summary["routes"]["rag"]["retrieval"]
    assert retrieval == {"recall_at_k": 0.5, "mrr": 0.5, "k": 1, "n": 2}


def test_offline_runs_every_route_through_its_local_stand_in(make_suite, tmp_path, corpus_dir=None):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "billing.md").write_text("A charge after cancellation is a billing_dispute.")
    routes = {"base": {"kind": "base", "model": "openai:gpt-4.1-mini"},
              "prompted": {"kind": "prompted", "model": "openai:gpt-4.1-mini"},
              "rag": {"kind": "rag", "model": "anthropic:claude-sonnet-4-5"},
              "tuned": {"kind": "finetuned", "model": "openai:ft:gpt-4.1-mini:org::x"}}
    result = run_suite(
        make_suite(routes=routes, corpus="docs"), RunOptions(out=tmp_path / "run", offline=True, progress=False)
    )
    ran_as = {name: info["ran_as"] for name, info in result.manifest["routes"].items()}
    assert ran_as == {
        "base": "local:keywords",
        "prompted": "local:nearest",
        "rag": "local:retrieval",
        "tuned": "local:classifier",
    }
    assert all(s["parse_rate"]["value"] == 1.0 for s in result.summary["routes"].values())


def test_the_terminal_says_when_routes_ran_as_stand_ins(make_suite, tmp_path, capsys):
    routes = {"base": {"kind": "base", "model": "openai:gpt-4.1-mini"}}
    assert (
        main(["run", str(make_suite(routes=routes)), "--offline", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    )
    captured = capsys.readouterr()
    assert "answers: base stand-in" in captured.out
    assert "not evidence about the configured models: base is stand-in" in captured.err


def test_an_existing_run_folder_is_not_overwritten(make_suite, tmp_path):
    from evalkit.errors import BadInput

    suite = make_suite()
    run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))
    with pytest.raises(BadInput, match="already holds a run"):
        run_suite(suite, RunOptions(out=tmp_path / "run", progress=False))


def test_score_rescores_stored_outputs_after_a_label_set_change(make_suite, tmp_path, capsys):
    import yaml

    suite_path = make_suite()
    run_suite(suite_path, RunOptions(out=tmp_path / "run", progress=False))
    spec = yaml.safe_load(suite_path.read_text())
    spec["task"]["labels"] = ["billing_dispute", "cancellation", "login_failure", "other"]
    suite_path.write_text(yaml.safe_dump(spec))
    assert main(["score", str(tmp_path / "run"), "--suite", str(suite_path)]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "other" in summary["routes"]["base"]["per_class"]


def test_score_without_a_suite_uses_the_recorded_one_and_calls_nothing(make_suite, tmp_path):
    from evalkit.runner import score_run

    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    before = json.loads((result.run_dir / "summary.json").read_text())
    assert score_run(result.run_dir) == before


def test_score_json_prints_the_summary_it_wrote(make_suite, tmp_path, capsys):
    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    capsys.readouterr()
    assert main(["score", str(result.run_dir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["summary"] == json.loads((result.run_dir / "summary.json").read_text())


def test_latest_names_the_newest_run_in_the_suite_reports_folder(make_suite, tmp_path, monkeypatch):
    suite = make_suite()
    monkeypatch.chdir(tmp_path)
    run_suite(suite, RunOptions(progress=False))
    newest = run_suite(suite, RunOptions(progress=False))
    latest = tmp_path / "reports" / "tiny" / "latest"
    assert latest.resolve() == newest.run_dir.resolve()
    assert load_run(latest).dir.name == newest.run_dir.name  # stages record the run, not the link


def test_the_retries_line_adds_up_to_its_total_when_earlier_sessions_retried_too(make_suite, tmp_path, capsys):
    from dataclasses import replace

    from evalkit.commands.run import print_result

    result = run_suite(make_suite(), RunOptions(out=tmp_path / "run", progress=False))
    result.manifest["retries_by_route"] = {"base": 25, "tuned": 25}  # what earlier sessions of the run recorded
    print_result(replace(result, retries=7, retries_by_route={"base": 3, "tuned": 4}))
    assert "retries: 7 (base 3, tuned 4)" in capsys.readouterr().out
