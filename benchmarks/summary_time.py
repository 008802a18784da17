"""Time what a run does after its last call: load the rows, write summary.json and report.md.

    python benchmarks/summary_time.py RUN_DIR

prints one JSON line: `rows`, `load_s` (reading manifest and results.jsonl) and
`summary_report_s` (metrics for every route, summary.json, report.md), the same work as the
end of `evalkit run` (evalkit.runner.write_summary). Imports are not counted.

`scaled_copy(run_dir, out, factor)` writes a run with `factor` times the cases (each copied
under new ids, or the first 1/`factor` of them), to see how that time grows with the rows.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path


def time_summary(run_dir: Path) -> dict[str, float]:
    import evalkit.metrics  # noqa: F401 - imported before the clock starts
    import evalkit.report.markdown  # noqa: F401
    import numpy  # noqa: F401
    from evalkit import store
    from evalkit.runner import write_summary

    started = time.perf_counter()
    run = store.load_run(run_dir)
    loaded = time.perf_counter()
    write_summary(run)
    done = time.perf_counter()
    return {"rows": len(run.rows), "load_s": loaded - started, "summary_report_s": done - loaded}


def scaled_copy(run_dir: Path, out: Path, factor: float) -> int:
    """A copy of the run with `factor` x its cases (factor >= 1: whole copies with new ids;
    below 1: the first cases). Returns the number of rows written."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "manifest.json", out / "manifest.json")
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines() if line]
    case_ids = list(dict.fromkeys(r["case_id"] for r in rows))
    written = 0
    with (out / "results.jsonl").open("w", encoding="utf-8") as handle:
        if factor >= 1:
            for copy in range(int(factor)):
                for row in rows:
                    handle.write(json.dumps({**row, "case_id": f"{row['case_id']}~{copy}"}, ensure_ascii=False) + "\n")
                    written += 1
        else:
            keep = set(case_ids[: max(1, round(len(case_ids) * factor))])
            for row in rows:
                if row["case_id"] in keep:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: summary_time.py RUN_DIR", file=sys.stderr)
        return 2
    print(json.dumps(time_summary(Path(args[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
