"""evalkit run SUITE: every holdout case through every route."""

from __future__ import annotations

import sys
from pathlib import Path

CACHE_HELP = ("response cache: auto (default: readwrite for routes at temperature 0, off otherwise), off, "
              "read (answer only from the cache, no key or network needed; a miss is an error row), write, readwrite")


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a suite through its routes",
        description="Run every holdout case through the suite's routes and write the run directory.",
    )
    p.add_argument("suite", type=Path, help="suite YAML file")
    p.add_argument("--out", type=Path, help="run directory (default reports/SUITE/RUN-ID)")
    p.add_argument(
        "--offline", action="store_true", help="replace every route by its local stand-in: no key, no network"
    )
    p.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="answer every route from a recording (a run's results.jsonl, lines matched by route): no key, no network",
    )
    p.add_argument("--route", action="append", dest="routes", metavar="ROUTE", help="run only this route (repeatable)")
    p.add_argument("--concurrency", type=int, default=8, help="calls in flight at once, over all routes (default 8)")
    p.add_argument(
        "--rpm",
        action="append",
        metavar="[PROVIDER=]N",
        help="at most N requests per minute to each remote provider, or to PROVIDER (repeatable; retries count). "
        "Without it, calls are paced from the provider's rate-limit headers",
    )
    p.add_argument(
        "--tpm",
        action="append",
        metavar="[PROVIDER=]N",
        help="at most N tokens per minute (estimated before sending: messages in characters / 4 + max_tokens) "
        "to each remote provider, or to PROVIDER (repeatable)",
    )
    p.add_argument("--max-wait", type=float, default=10.0, metavar="MINUTES",
                   help="how long one call may wait out rate limits (429), apart from --attempts (default 10)")
    p.add_argument("--repeats", type=int, default=1, help="answers per case and route (default 1)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="finish a stopped run: only missing calls are made "
                   "(its routes, repeats and --offline come from the run)")
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: drop the run's error rows and make those calls again (finished answers are kept)",
    )
    p.add_argument(
        "--max-error-rate",
        type=float,
        default=0.5,
        help="exit 3 when a route's share of error rows exceeds this (default 0.5)",
    )
    p.add_argument(
        "--attempts",
        type=int,
        default=4,
        help="tries per call for 5xx, timeouts and connection errors (default 4); "
        "rate limits wait instead (--max-wait)",
    )
    p.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="per-call timeout (default: the suite's defaults.timeout_s)"
    )
    p.add_argument("--cache", choices=["auto", "off", "read", "write", "readwrite"], default="auto", help=CACHE_HELP)
    p.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where the response cache lives (default: EVALKIT_CACHE_DIR or the user cache directory)",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send routes whose provider has a batch API (OpenAI, Anthropic) through it: "
        "half price, results within 24 h; other routes run live. "
        "Ctrl-C leaves the batches running; --resume collects them",
    )
    p.add_argument(
        "--batch-poll",
        type=float,
        metavar="SECONDS",
        help="with --batch: seconds between looks at the open batches (default 30)",
    )
    p.add_argument(
        "--batch-resubmit",
        type=int,
        metavar="N",
        help="with --batch: times an expired or errored request is sent again "
        "before it becomes an error row (default 1)",
    )
    p.add_argument(
        "--case",
        action="append",
        dest="cases",
        metavar="ID",
        help="run only this holdout case (repeatable; with --tag: either)",
    )
    p.add_argument(
        "--tag", action="append", dest="tags", metavar="TAG", help="run only holdout cases with this tag (repeatable)"
    )
    p.add_argument("--limit", type=int, metavar="N", help="run only the first N cases (after --case and --tag)")
    p.add_argument(
        "--watch",
        action="store_true",
        help="after the run, run again whenever the suite, its case files, output schema "
        "or corpus change (cached answers cost nothing), and print what moved; Ctrl-C stops",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def warn(message: str) -> None:
    print(f"evalkit: warning: {message}", file=sys.stderr, flush=True)


def handle(args) -> int:
    """`evalkit run`; start-up collects no garbage until the calls start (evalkit.gcfreeze)."""
    from evalkit.gcfreeze import pause_collection, resume_collection

    pause_collection()
    try:
        return run_command(args)
    finally:
        resume_collection()


def run_command(args) -> int:
    from evalkit.limits import parse_rpm
    from evalkit.runner import RunOptions, run_suite

    options = RunOptions(
        batch=batch_options(args),
        out=args.out,
        offline=args.offline,
        replay=args.replay,
        concurrency=args.concurrency,
        repeats=args.repeats,
        routes=args.routes,
        resume=args.resume,
        retry_errors=args.retry_errors,
        max_error_rate=args.max_error_rate,
        attempts=args.attempts,
        timeout_s=args.timeout,
        rpm=parse_rpm(args.rpm),
        tpm=parse_rpm(args.tpm, "--tpm", "tokens per minute"),
        max_wait_s=args.max_wait * 60,
        cache=args.cache,
        cache_dir=args.cache_dir,
        progress=False if args.no_progress else None,
        notify=warn,
        cases=args.cases,
        tags=args.tags,
        limit=args.limit,
    )
    if args.watch:
        return watch_suite(args, options)
    result = run_suite(args.suite, options)
    if args.json:
        import json

        print(json.dumps({"run_dir": str(result.run_dir), "summary": result.summary}, indent=2))
    else:
        print_result(result)
    if result.stopped:
        print(f"evalkit: the run stopped early: {result.stopped}", file=sys.stderr)
    if not result.complete:
        print(
            f"evalkit: the run stopped early; finish it with: evalkit run {args.suite} --resume {result.run_dir}",
            file=sys.stderr,
        )
    elif result.manifest.get("error_rate_exceeded"):
        routes = ", ".join(result.manifest["error_rate_exceeded"])
        print(
            f"evalkit: more than {args.max_error_rate:.0%} of the rows of {routes} are errors: "
            "the run does not count as finished",
            file=sys.stderr,
        )
    return result.exit_code


def watch_suite(args, options) -> int:
    from evalkit.errors import BadInput
    from evalkit.runner import run_suite
    from evalkit.watch import watch

    if args.resume is not None or args.out is not None:
        raise BadInput("--watch makes a new run directory per change: it goes without --resume and --out")

    def run_once():
        result = run_suite(args.suite, options)
        print_result(result)
        return result

    return watch(args.suite, run_once)


def batch_options(args):
    """BatchOptions for --batch (settings not given: as the run started, else the defaults), else None."""
    from evalkit.errors import BadInput

    if not args.batch and (args.batch_poll is not None or args.batch_resubmit is not None) and args.resume is None:
        raise BadInput("--batch-poll and --batch-resubmit go with --batch (or with --resume of a batch run)")
    if args.batch_poll is not None and args.batch_poll <= 0:
        raise BadInput(f"--batch-poll must be positive, got {args.batch_poll:g}")
    if args.batch_resubmit is not None and args.batch_resubmit < 0:
        raise BadInput(f"--batch-resubmit must be 0 or more, got {args.batch_resubmit}")
    if not (args.batch or args.batch_poll is not None or args.batch_resubmit is not None):
        return None
    from evalkit.batch import BatchOptions

    return BatchOptions(poll_s=args.batch_poll, resubmit=args.batch_resubmit)


def print_result(result) -> None:
    from tabulate import tabulate

    from evalkit.provenance import describe, route_models
    from evalkit.report.format import route_headers, route_rows, usd

    print(tabulate(route_rows(result.summary), headers=route_headers(), tablefmt="simple"))
    for route, s in result.summary["routes"].items():
        if s.get("retrieval"):
            r = s["retrieval"]
            print(f"{route}: retrieval recall@{r['k']} {r['recall_at_k']:.3f}, MRR {r['mrr']:.3f} (n={r['n']})")
    print()
    manifest = result.manifest
    print(f"calls made: {result.calls_made}; answered from the cache: {result.cache_hits}")
    if result.retries:
        by_route = ", ".join(f"{route} {n}" for route, n in sorted(result.retries_by_route.items()))
        print(f"retries: {result.retries} ({by_route})" if by_route else f"retries: {result.retries}")
    costs = [(route, s.get("cost_usd")) for route, s in result.summary["routes"].items()]
    if any(cost is not None for _, cost in costs):
        print(
            "cost: " + ", ".join(f"{route} " + usd(None if c is None else c["total"]) for route, c in costs)
        )
    for route, info in manifest.get("routes", {}).items():
        if info.get("shutdown_date"):
            print(
                f"{route}: {route_models(info).ran_as}: "
                f"shutdown date {info['shutdown_date']} ({info.get('shutdown_source')})"
            )
    found = {route: s["provenance"] for route, s in result.summary["routes"].items() if s.get("provenance")}
    print("answers: " + "; ".join(f"{route} {describe(info)}" for route, info in found.items()))
    weak = [f"{route} is {describe(info)}" for route, info in found.items() if not info["evidence"]]
    if weak:
        warn(f"not evidence about the configured models: {'; '.join(weak)}. A gate on this run will not approve "
             f"(--allow-unverified evaluates its policy anyway, as a demonstration)")
    print(f"run directory: {result.run_dir}")
    for name in ("manifest.json", "results.jsonl", "summary.json", "report.md"):
        print(f"  {result.run_dir / name}")
    errors = sum(s.get("errors") or 0 for s in result.summary["routes"].values())
    suite = manifest.get("suite", {}).get("path") or "SUITE"
    if errors:
        print(f"error rows: {errors}; make those calls again with: "
              f"evalkit run {suite} --resume {result.run_dir} --retry-errors")
    else:
        print("error rows: 0")
