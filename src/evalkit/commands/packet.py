"""evalkit packet RUN_DIR: the stakeholder packet (packet.html, packet.md, packet.json)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.policy import GatePolicy


def register(sub) -> None:
    p = sub.add_parser(
        "packet",
        help="write the stakeholder packet: baseline vs candidate, ready to send",
        description="Write packet.html (one self-contained file), packet.md and packet.json: the gate verdict, "
        "every route side by side, what changed between baseline and candidate, confusion "
        "matrices, failures by tag and label, the cases fixed and broken, cost and ownership. "
        "The packet is written whatever the verdict; without a gate policy it says so.",
    )
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run directory (reports/SUITE/latest names the newest)"
    )
    p.add_argument(
        "--baseline", metavar="[RUN_DIR:]ROUTE", help="the baseline route (default: the gate policy's baseline)"
    )
    p.add_argument(
        "--candidate", metavar="[RUN_DIR:]ROUTE", help="the route under approval (default: the gate policy's candidate)"
    )
    p.add_argument(
        "--with",
        dest="with_routes",
        metavar="ROUTES",
        action="append",
        help="other routes to show, comma-separated, each ROUTE or RUN_DIR:ROUTE (default: every route of RUN_DIR)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="gate policy YAML (default: the gate: section of the candidate's suite)",
    )
    p.add_argument(
        "--monthly-volume",
        type=int,
        metavar="N",
        help="cases per month, for the projected monthly cost and the tuned route's break-even "
        "(default: the suite's monthly_volume)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default RUN_DIR/packet)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed, as for compare and gate (default 0)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="evaluate the gate policy even on answers that are not evidence (stand-ins, unverified or stale "
        "recordings), as for a demonstration: the packet still says NOT EVIDENCE",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.packet import make_packet, write_packet

    baseline, candidate = _roles(args)
    with_routes = None
    if args.with_routes is not None:
        with_routes = [ref.strip() for chunk in args.with_routes for ref in chunk.split(",") if ref.strip()]
    packet = make_packet(args.run_dir, baseline=baseline, candidate=candidate, with_routes=with_routes,
                         policy=args.policy, monthly_volume=args.monthly_volume, seed=args.seed,
                         allow_unverified=args.allow_unverified)
    paths = write_packet(packet, args.out or args.run_dir / "packet")
    verdict = packet["verdict"]
    if verdict["status"] == "no_policy":
        print(f"{packet['title']}: {verdict['headline']}")
    else:
        print(f"{packet['title']}: {verdict['status']} ({verdict['headline']})")
    if packet["evidence"]["demonstration"]:
        routes = ", ".join(f"{e['name']} is {e['described']}" for e in packet["evidence"]["not_evidence"])
        print(f"  DEMONSTRATION, NOT EVIDENCE: {routes}")
    waived = (verdict.get("evidence") or {}).get("allow_unverified")
    for check in verdict["checks"]:
        if not check["passed"]:
            mark = "NOT EVIDENCE" if waived and check.get("kind") == "evidence" else "FAIL"
            print(f"  {mark} {check['name']}: {check['reason']}")
    for path in paths.values():
        print(f"  {path}")
    return 0


def _roles(args) -> tuple[str, str]:
    """--baseline and --candidate, falling back on the gate policy's baseline: and candidate:."""
    from evalkit.errors import BadInput

    baseline, candidate = args.baseline, args.candidate
    if baseline and candidate:
        return baseline, candidate
    from evalkit.policy import load_policy, policy_of_run
    from evalkit.store import load_run

    policy: GatePolicy | None
    if args.policy is not None:
        policy = load_policy(args.policy)
    else:
        policy = policy_of_run(load_run(args.run_dir).manifest, where=str(args.run_dir / "manifest.json"))
    baseline = baseline or (policy.baseline if policy else None)
    candidate = candidate or (policy.candidate if policy else None)
    if not baseline or not candidate:
        missing = " and ".join(
            flag for flag, value in (("--baseline", baseline), ("--candidate", candidate)) if not value
        )
        raise BadInput(f"name the routes to compare: pass {missing} (no gate policy sets them)")
    return baseline, candidate
