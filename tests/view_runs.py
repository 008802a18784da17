"""Runs for the viewer's tests: the example suite run offline (as `make example` does), one of
them as a run from before requests.jsonl, the other with one hostile answer."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO
from evalkit.runner import RunOptions, run_suite, score_run
from evalkit.store import load_run, rewrite_rows

SUITE = REPO / "evals" / "support_triage.yaml"
#: a model output that would run script if it were ever treated as HTML
HOSTILE = ("<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
           "</script><!-- {{ 7 * 7 }}")
HOSTILE_CASE, HOSTILE_ROUTE = "st-h-003", "prompted"


def example_run(out: Path, **options) -> Path:
    return run_suite(SUITE, RunOptions(offline=True, out=out, progress=False, **options)).run_dir


def make_hostile(run_dir: Path, case_id: str = HOSTILE_CASE, route: str = HOSTILE_ROUTE) -> None:
    """One answer becomes markup and script: stored as the model gave it, scored unparsed."""
    rows = load_run(run_dir).rows
    for row in rows:
        if (row["case_id"], row["route"]) == (case_id, route):
            row["output"] = HOSTILE
    rewrite_rows(run_dir, rows)
    score_run(run_dir)  # scored as the run would have scored it: unparsed
    cases = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    for case in cases:
        if case["id"] == case_id:  # the case's own text is markup too
            case["input"]["subject"] = HOSTILE
    (run_dir / "cases.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8"
    )


def reports_with_two_runs(reports: Path) -> tuple[Path, Path]:
    """reports/support_triage/{first,second}: the first as a run from before requests.jsonl, the
    second with one hostile answer."""
    first = example_run(reports / "support_triage" / "first")
    (first / "requests.jsonl").unlink()
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    manifest["started_at"] = "2026-01-01T10:00:00+00:00"  # a day the second run is surely newer than
    (first / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    second = example_run(reports / "support_triage" / "second")
    make_hostile(second)
    return first, second
