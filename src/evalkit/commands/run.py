"""evalkit run SUITE: every holdout case through every route."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("run", help="run a suite through its routes", description="Run every holdout case through the suite's routes and write the run directory.")
    p.add_argument("suite", type=Path, help="suite YAML file")
    p.add_argument("--out", type=Path, help="run directory (default reports/SUITE/RUN-ID)")
    p.add_argument("--offline", action="store_true", help="replace every route by its local stand-in: no key, no network")
    p.add_argument("--route", action="append", dest="routes", metavar="ROUTE", help="run only this route (repeatable)")
    p.add_argument("--concurrency", type=int, default=8, help="calls in flight at once (default 8)")
    p.add_argument("--repeats", type=int, default=1, help="answers per case and route (default 1)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish a stopped run: only missing calls are made")
    p.add_argument("--max-error-rate", type=float, default=0.5, help="exit 3 when a route's share of error rows exceeds this (default 0.5)")
    p.add_argument("--attempts", type=int, default=4, help="tries per call for retryable errors (default 4)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.runner import RunOptions, run_suite

    options = RunOptions(out=args.out, offline=args.offline, concurrency=args.concurrency, repeats=args.repeats,
                         routes=args.routes, resume=args.resume, max_error_rate=args.max_error_rate,
                         attempts=args.attempts, progress=False if args.no_progress else None)
    result = run_suite(args.suite, options)
    if args.json:
        import json

        print(json.dumps({"run_dir": str(result.run_dir), "summary": result.summary}, indent=2))
    else:
        print_result(result)
    if not result.complete:
        print(f"evalkit: the run stopped early; finish it with: evalkit run {args.suite} --resume {result.run_dir}", file=sys.stderr)
    elif result.manifest.get("error_rate_exceeded"):
        routes = ", ".join(result.manifest["error_rate_exceeded"])
        print(f"evalkit: more than {args.max_error_rate:.0%} of the rows of {routes} are errors: the run does not count as finished", file=sys.stderr)
    return result.exit_code


def print_result(result) -> None:
    from tabulate import tabulate

    from evalkit.report.format import ROUTE_HEADERS, route_rows

    print(tabulate(route_rows(result.summary), headers=ROUTE_HEADERS, tablefmt="simple"))
    for route, s in result.summary["routes"].items():
        if s.get("retrieval"):
            r = s["retrieval"]
            print(f"{route}: retrieval recall@{r['k']} {r['recall_at_k']:.3f}, MRR {r['mrr']:.3f} (n={r['n']})")
    print()
    manifest = result.manifest
    if manifest.get("retries"):
        print(f"retries: {manifest['retries']}")
    print(f"run directory: {result.run_dir}")
    for name in ("manifest.json", "results.jsonl", "summary.json", "report.md"):
        print(f"  {result.run_dir / name}")
