"""evalkit score RUN_DIR: re-score stored outputs without calling any provider."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "score",
        help="re-score a stored run from its raw outputs",
        description="Re-score a stored run (after a change to the label field, extract pattern or label set) "
        "and rewrite summary.json and report.md. No provider is called.",
    )
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run directory (reports/SUITE/latest names the newest)"
    )
    p.add_argument("--suite", type=Path, help="score with this suite file instead of the one recorded in the run")
    p.add_argument("--json", action="store_true", help="print the new summary as JSON")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from tabulate import tabulate

    from evalkit.report.format import route_headers, route_rows
    from evalkit.runner import score_run

    summary = score_run(args.run_dir, args.suite)
    if args.json:
        import json

        print(json.dumps({"run_dir": str(args.run_dir), "summary": summary}, indent=2, ensure_ascii=False))
        return 0
    print(tabulate(route_rows(summary), headers=route_headers(), tablefmt="simple"))
    print(f"\nrewrote {args.run_dir / 'summary.json'} and {args.run_dir / 'report.md'}")
    return 0
