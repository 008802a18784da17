"""Runs for the viewer's tests: the example suite run offline (as `make example` does), with the
requests it sent recorded in requests.jsonl in the shape `evalkit run` writes it
({request_sha256, route, case_id, repeat, messages, params}), and one hostile answer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import REPO

from evalkit.planning import build_plans, route_params
from evalkit.runner import RunOptions, run_suite, write_summary
from evalkit.store import load_run, rewrite_rows
from evalkit.suite import canonical_json, load_suite

SUITE = REPO / "evals" / "support_triage.yaml"
#: a model output that would run script if it were ever treated as HTML
HOSTILE = ("<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
           "</script><!-- {{ 7 * 7 }}")
HOSTILE_CASE, HOSTILE_ROUTE = "st-h-003", "prompted"


def example_run(out: Path, **options) -> Path:
    return run_suite(SUITE, RunOptions(offline=True, out=out, progress=False, **options)).run_dir


def write_requests(run_dir: Path, suite_path: Path = SUITE) -> dict[tuple, dict]:
    """requests.jsonl for a run: one line per planned call, rendered exactly as the run rendered them."""
    suite = load_suite(suite_path)
    run = load_run(run_dir)
    plans = build_plans(suite, run.routes)
    by_id = {case.id: case for case in suite.holdout}
    written = {}
    with (run_dir / "requests.jsonl").open("w", encoding="utf-8") as handle:
        for row in run.rows:
            messages = plans[row["route"]].render(by_id[row["case_id"]]).messages
            params = route_params(suite, row["route"])
            line = {"route": row["route"], "case_id": row["case_id"], "repeat": row.get("repeat", 0),
                    "messages": messages, "params": params}
            line = {"request_sha256": hashlib.sha256(canonical_json(line).encode()).hexdigest(), **line}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            written[(row["case_id"], row["route"])] = line
    return written


def make_hostile(run_dir: Path, case_id: str = HOSTILE_CASE, route: str = HOSTILE_ROUTE) -> None:
    """One answer becomes markup and script: stored as the model gave it, scored unparsed."""
    rows = load_run(run_dir).rows
    for row in rows:
        if (row["case_id"], row["route"]) == (case_id, route):
            row.update(output=HOSTILE, parsed_ok=False, parse_error="invalid JSON: Expecting value at line 1 column 1",
                       predicted_label=None, correct=False)
    rewrite_rows(run_dir, rows)
    write_summary(load_run(run_dir))
    cases = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    for case in cases:
        if case["id"] == case_id:  # the case's own text is markup too
            case["input"]["subject"] = HOSTILE
    (run_dir / "cases.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")


def reports_with_two_runs(reports: Path) -> tuple[Path, Path]:
    """reports/support_triage/{first,second}: the second with one hostile answer and its requests
    recorded; the first predates requests.jsonl."""
    first = example_run(reports / "support_triage" / "first")
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    manifest["started_at"] = "2026-01-01T10:00:00+00:00"  # a day the second run is surely newer than
    (first / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    second = example_run(reports / "support_triage" / "second")
    make_hostile(second)
    write_requests(second)
    return first, second
