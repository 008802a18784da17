"""evalkit gate RUN_DIR --route ROUTE: approve or reject a candidate route."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.policy import GatePolicy


def register(sub) -> None:
    p = sub.add_parser(
        "gate",
        help="approve or reject a candidate route against a policy",
        description="Check a candidate route against the gate policy (thresholds, non-inferiority to a baseline, "
        "significance, error budget, cost and latency ceilings) and check that both routes were answered by "
        "their configured models (live, cached or a verified recording). Exit 0 approve, 1 reject "
        "(or not evidence), 2 bad arguments/config/data, 3 run incomplete (errors beyond the budget).",
    )
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run directory (reports/SUITE/latest names the newest)"
    )
    p.add_argument("--route", help="the candidate route (default: the policy's candidate)")
    p.add_argument(
        "--baseline",
        metavar="[RUN_DIR:]ROUTE",
        help="the baseline route, in this run or another (default: the policy's baseline)",
    )
    p.add_argument(
        "--policy", type=Path, metavar="FILE", help="policy YAML (default: the gate: section of the run's suite)"
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML, one test case per check")
    p.add_argument("--summary", type=Path, metavar="FILE", help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="evaluate the policy even when a route was not answered by its configured model (stand-ins, "
        "unverified or stale recordings): the exit follows the policy and every output says NOT EVIDENCE",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.errors import BadInput
    from evalkit.gate import evaluate_gate
    from evalkit.policy import load_policy, policy_of_run
    from evalkit.store import load_run, parse_run_ref

    run = load_run(args.run_dir)
    policy: GatePolicy | None
    if args.policy is not None:
        policy = load_policy(args.policy)
    else:
        policy = policy_of_run(run.manifest, where=str(args.run_dir / "manifest.json"))
        if policy is None:
            raise BadInput(
                "no gate policy: pass --policy FILE or add a gate: section to the suite", where=str(args.run_dir)
            )
    baseline = None
    if args.baseline:
        base_dir, base_route = parse_run_ref(args.baseline, default_dir=args.run_dir)
        base_run = run if base_dir.resolve() == args.run_dir.resolve() else load_run(base_dir)
        baseline = (base_run, base_route)
    verdict = evaluate_gate(policy, run, args.route, baseline, seed=args.seed, allow_unverified=args.allow_unverified)

    if args.json:
        import json

        print(json.dumps(verdict.to_dict(), indent=2, ensure_ascii=False))
    else:
        from evalkit.report.gate_summary import render_text

        print(render_text(verdict), end="")
    if args.junit:
        from evalkit.report.junit import render_junit

        _write(args.junit, render_junit(verdict), append=False)
    if args.summary:
        from evalkit.report.gate_summary import render_markdown

        _write(args.summary, render_markdown(verdict), append=True)
    return verdict.exit_code


def _write(path: Path, text: str, *, append: bool) -> None:
    from evalkit.errors import BadInput

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as handle:
            if append and path.stat().st_size:
                handle.write("\n")
            handle.write(text)
    except OSError as exc:
        raise BadInput(f"cannot write: {exc.strerror}", where=str(path)) from None
