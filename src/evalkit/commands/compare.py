"""evalkit compare A B: two routes case by case, with paired statistics."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two routes case by case",
        description="Pair the rows of two routes by case id and report the deltas of accuracy, parse rate, "
        "kappa and macro-F1 with paired 95% intervals, McNemar's test, the cases fixed and broken, "
        "per-class, per-tag, latency, token and cost changes. Deltas are B minus A.",
    )
    p.add_argument("a", metavar="A", help="RUN_DIR:ROUTE, the reference (e.g. reports/run1:base)")
    p.add_argument("b", metavar="B", help="RUN_DIR:ROUTE, the challenger (the same run with another route is fine)")
    p.add_argument("--json", action="store_true", help="print one JSON object (its keys: docs/ci.md, section 1)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.compare import compare
    from evalkit.errors import BadInput
    from evalkit.store import load_run, parse_run_ref

    if args.n_boot < 100:
        raise BadInput("--n-boot must be at least 100")
    (dir_a, route_a), (dir_b, route_b) = parse_run_ref(args.a), parse_run_ref(args.b)
    run_a = load_run(dir_a)
    run_b = run_a if dir_b.resolve() == dir_a.resolve() else load_run(dir_b)
    result = compare(run_a, route_a, run_b, route_b, seed=args.seed, n_boot=args.n_boot)
    if args.json:
        import json

        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        from evalkit.report.comparison import render_text

        print(render_text(result), end="")
    return 0
