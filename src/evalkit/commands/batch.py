"""evalkit batch status RUN_DIR: the batches of a `--batch` run, their state and counts."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="batches of a --batch run", description="Inspect the provider batches of a run made with --batch."
    )
    actions = p.add_subparsers(dest="batch_action", metavar="ACTION")
    s = actions.add_parser(
        "status",
        help="each batch's state and counts",
        description="Show each batch of the run: route, attempt, state and counts (asking the provider "
        "about the open ones), and how many rows it has answered.",
    )
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run directory")
    s.add_argument("--offline", action="store_true", help="show the stored state only; ask no provider")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(handler=handle_status)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def handle_status(args) -> int:
    from evalkit.batch.status import batch_status

    report = batch_status(args.run_dir, refresh=not args.offline)
    if args.json:
        import json

        print(json.dumps(report, indent=2))
        return 0
    print_status(report)
    return 0


def print_status(report: dict) -> None:
    from tabulate import tabulate

    from evalkit.batch.status import describe_counts

    table = [
        [
            b["id"],
            b["route"],
            b["provider"],
            b["attempt"],
            b["requests"],
            b["status"],
            describe_counts(b["counts"]),
            b["rows"],
            b["submitted_at"],
            b["ended_at"] or "-",
        ]
        for b in report["batches"]
    ]
    print(tabulate(table, headers=["batch", "route", "provider", "attempt", "requests", "status", "counts", "rows",
                                   "submitted", "ended"], tablefmt="simple"))
    for b in report["batches"]:
        if b["error"]:
            print(f"{b['id']}: {b['error']}")
        if b["source"] not in ("provider", "stored state"):
            print(f"{b['id']}: {b['source']}")
    if report["open"]:
        suite = report["suite"] or "SUITE"
        print(f"\n{report['open']} batch(es) still open at the provider. Collect them with: "
              f"evalkit run {suite} --resume {report['run_dir']}")
