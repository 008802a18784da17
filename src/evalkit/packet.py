"""The stakeholder packet's data: one dict, written as packet.json and rendered as HTML and Markdown.

`build_packet` is a pure function of loaded runs, `compare` results and the gate verdict:
it copies figures from summary.json, compare and gate and never recomputes a metric. The
only arithmetic of its own is the monthly cost projection (cost per 1,000 cases x the
volume the user gives, plus any hourly hosting of a deployed fine-tune) and the tuned
route's break-even (training cost / monthly saving); the rest is choosing, ordering and
grouping what they returned.
`make_packet` is the edge: it loads the runs, calls compare and the gate, and then builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
from evalkit.provenance import route_models
from evalkit.store import Run

PACKET_VERSION = 1
NO_POLICY = "no gate policy"


@dataclass(frozen=True)
class RouteRef:
    """A route of a run as the packet shows it: `name` is unique within the packet."""

    name: str
    ref: str
    run: Run
    route: str


# -- the pure part --


def build_packet(
    routes: list[RouteRef],
    *,
    baseline: str,
    candidate: str,
    comparison: dict[str, Any],
    layers: dict[str, dict[str, Any]],
    versus_candidate: dict[str, dict[str, Any]],
    verdict: dict[str, Any],
    monthly_volume: int | None = None,
    generated_at: str | None = None,
    evalkit_version: str = "",
    meets_policy: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """Every figure of the packet, as one JSON-ready dict.

    `comparison` is compare(baseline, candidate); `layers[name]` is compare(baseline, name)
    and `versus_candidate[name]` is compare(name, candidate) for every other route;
    `verdict` comes from `verdict_from_gate` or `no_policy_verdict`; `meets_policy[name]` says
    whether a route, as the candidate against the baseline, passes the policy (the break-even is
    against the cheapest that does). Without `monthly_volume`, the suite's `monthly_volume`.
    """
    by_name = {r.name: r for r in routes}
    if baseline not in by_name or candidate not in by_name:
        raise BadInput("the baseline and the candidate must be among the packet's routes")
    for ref in routes:
        if ref.run.summary is None or ref.route not in ref.run.summary.get("routes", {}):
            raise BadInput(
                f"route {ref.route!r} has no summary: run `evalkit score {ref.run.dir}` first", where=str(ref.run.dir)
            )
    base_run, cand_run = by_name[baseline].run, by_name[candidate].run
    spec = cand_run.manifest["suite"].get("spec", {})
    task = spec.get("task", {})
    monthly_volume = monthly_volume or spec.get("monthly_volume")
    return {
        "packet_version": PACKET_VERSION,
        "title": f"{cand_run.manifest['suite']['name']}: {candidate} vs {baseline}",
        "generated_at": generated_at,
        "evalkit_version": evalkit_version,
        "suite": {
            "name": cand_run.manifest["suite"]["name"],
            "description": spec.get("description", ""),
            "owner": spec.get("owner"),
            "labels": task.get("labels", []),
            "label_descriptions": task.get("label_descriptions", {}),
        },
        "baseline": baseline,
        "candidate": candidate,
        "verdict": verdict,
        "routes": [_route_entry(r, baseline, candidate) for r in routes],
        "evidence": _evidence(routes),
        "retrieval": _retrieval(routes),
        "fields": _fields(routes),
        "comparison": comparison,
        "layers": layers,
        "versus_candidate": versus_candidate,
        "failures": {
            "by_tag": _tag_failures(routes, baseline, candidate, comparison, layers),
            "by_label": _label_failures(routes, baseline),
        },
        "cases": _flipped_cases(routes, comparison, base_run, cand_run),
        "cost": _cost(routes, baseline, candidate, comparison, layers, versus_candidate, monthly_volume, meets_policy),
        "ownership": {"owner": spec.get("owner"), "shutdowns": _shutdowns(routes)},
        "provenance": _provenance(routes),
    }


def _summary(ref: RouteRef) -> dict[str, Any]:
    assert ref.run.summary is not None  # build_packet checked every route has one
    summary: dict[str, Any] = ref.run.summary["routes"][ref.route]
    return summary


def _route_info(ref: RouteRef) -> dict[str, Any]:
    return ref.run.manifest.get("routes", {}).get(ref.route, {})


def _route_entry(ref: RouteRef, baseline: str, candidate: str) -> dict[str, Any]:
    info = _route_info(ref)
    role = "baseline" if ref.name == baseline else "candidate" if ref.name == candidate else "other"
    return {
        "name": ref.name,
        "ref": ref.ref,
        "role": role,
        "route": ref.route,
        "run_dir": str(ref.run.dir),
        "run_id": ref.run.manifest.get("run_id"),
        "kind": info.get("kind"),
        "model": info.get("model"),
        "ran_as": route_models(info).ran_as,
        "provenance": _provenance_of(ref)["described"],
        "summary": _summary(ref),
    }


def _retrieval(routes) -> list[dict[str, Any]]:
    """Retrieval quality (summary.json's recall@k and MRR) of every route that retrieved, and
    who retrieved: evalkit's retriever, or the route's own pipeline (python:, http:)."""

    def retriever(info: dict[str, Any]) -> str:
        return "the route's own pipeline" if info.get("retrieves_itself") else "evalkit (TF-IDF over the corpus)"

    return [
        {"name": ref.name, "retriever": retriever(_route_info(ref)), **_summary(ref)["retrieval"]}
        for ref in routes
        if _summary(ref).get("retrieval")
    ]


def _fields(routes) -> dict[str, Any]:
    """Every scored field's metrics side by side (rows: field and metric; a cell per route),
    each ordinal field's confusion per route, and each route's repair passes beside its prompt
    length: all from the summaries (evalkit.field_metrics)."""
    from evalkit.field_metrics import FIELD_METRICS

    table: dict[tuple[str, str], dict[str, Any]] = {}
    confusions, repairs = [], []
    for ref in routes:
        summary = _summary(ref)
        if summary.get("exact_match"):
            table.setdefault(("all scored fields", "exact match"), {})[ref.name] = summary["exact_match"]
        for field, metrics in (summary.get("fields") or {}).items():
            for name, entry in metrics.items():
                if name in FIELD_METRICS:
                    table.setdefault((field, FIELD_METRICS[name].label), {})[ref.name] = entry
            if metrics.get("type") == "ordinal" and metrics.get("confusion"):
                confusions.append({"field": field, "route": ref.name, **metrics["confusion"]})
        if summary.get("repair"):
            repairs.append({"name": ref.name, "prompt_tokens": summary["tokens"]["input_mean"], **summary["repair"]})
    rows = [{"field": field, "metric": metric, "routes": cells} for (field, metric), cells in table.items()]
    return {"rows": rows, "ordinal_confusions": confusions, "repairs": repairs}


def _provenance_of(ref: RouteRef) -> dict[str, Any]:
    from evalkit.provenance import describe, provenance_of_route

    # summary.json holds it since runs recorded provenance; older runs: from their rows
    info = _summary(ref).get("provenance") or provenance_of_route(
        ref.run.manifest, ref.route, ref.run.route_rows(ref.route)
    )
    return {**info, "described": describe(info)}


def _evidence(routes) -> dict[str, Any]:
    """Where each route's answers came from. Routes not answered by their configured model
    (stand-ins, unverified or stale recordings) make the packet a demonstration: their figures
    must not be read as that model's."""
    from evalkit.provenance import MEANING

    entries = []
    for ref in routes:
        info, found = _route_info(ref), _provenance_of(ref)
        entries.append(
            {
                "name": ref.name,
                "model": info.get("model"),
                "ran_as": route_models(info).ran_as,
                "provenance": found["provenance"],
                "described": found["described"],
                "evidence": found["evidence"],
                "meaning": MEANING.get(found["provenance"] or "", "no answered rows"),
            }
        )
    not_evidence = [e for e in entries if not e["evidence"]]
    return {
        "verified": not not_evidence,
        "demonstration": bool(not_evidence),
        "routes": entries,
        "not_evidence": not_evidence,
    }


def _tag_failures(routes, baseline, candidate, comparison, layers) -> list[dict[str, Any]]:
    """Per tag: each route's figures from its summary, and the cases each route fixed or broke
    against the baseline (compare's `by_tag`). Worst tags of the baseline first; `n` is the
    largest number of cases any route has for the tag."""
    tags: dict[str, int] = {}
    for ref in routes:
        for tag, entry in _summary(ref)["by_tag"].items():
            tags[tag] = max(tags.get(tag, 0), entry["n"])
    against_baseline = {**layers, candidate: comparison}
    result: list[dict[str, Any]] = []
    for tag, n in tags.items():
        per_route = {ref.name: _summary(ref)["by_tag"].get(tag) for ref in routes}
        flips = {
            name: {"fixed": c["by_tag"][tag]["fixed"], "broken": c["by_tag"][tag]["broken"]}
            for name, c in against_baseline.items()
            if tag in c.get("by_tag", {})
        }
        result.append({"tag": tag, "n": n, "routes": per_route, "flips_vs_baseline": flips})
    worst = {t["tag"]: ((t["routes"].get(baseline) or {}).get("accuracy")) for t in result}
    result.sort(key=lambda t: (1.0 if worst[t["tag"]] is None else worst[t["tag"]], -t["n"], t["tag"]))
    return result


def _label_failures(routes, baseline) -> list[dict[str, Any]]:
    """Per label: precision, recall and F1 of every route (summary.json), weakest for the baseline first."""
    base = next(r for r in routes if r.name == baseline)
    labels = list(_summary(base)["per_class"])
    result = [
        {
            "label": label,
            "support": _summary(base)["per_class"][label].get("n_cases", _summary(base)["per_class"][label]["support"]),
            "routes": {ref.name: _summary(ref)["per_class"].get(label) for ref in routes},
        }
        for label in labels
    ]
    result.sort(key=lambda e: (e["routes"][baseline]["f1"], -e["support"], e["label"]))
    return result


def _first_rows(run: Run, route: str) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for row in run.rows:
        if row["route"] == route:
            kept = rows.get(row["case_id"])
            if kept is None or (row.get("repeat") or 0) < (kept.get("repeat") or 0):
                rows[row["case_id"]] = row
    return rows


def _flipped_cases(routes, comparison, base_run: Run, cand_run: Run) -> list[dict[str, Any]]:
    from evalkit.cases import input_text

    rows = {ref.name: _first_rows(ref.run, ref.route) for ref in routes}
    cases = []
    for change in ("fixed", "broken"):
        for case_id in comparison["flips"][change]:
            case = cand_run.cases.get(case_id) or base_run.cases.get(case_id) or {}
            outputs = []
            for ref in routes:
                row = rows[ref.name].get(case_id)
                if row is None:
                    outputs.append({"route": ref.name, "missing": True})
                    continue
                outputs.append(
                    {
                        "route": ref.name,
                        "output": row.get("output"),
                        "predicted_label": row.get("predicted_label"),
                        "correct": bool(row.get("correct")),
                        "parse_error": row.get("parse_error"),
                        "error": row.get("error"),
                    }
                )
            expected_row = next((rows[r.name][case_id] for r in routes if case_id in rows[r.name]), {})
            cases.append(
                {
                    "id": case_id,
                    "change": change,
                    "tags": case.get("tags") or expected_row.get("tags") or [],
                    "input": case.get("input"),
                    "input_text": input_text(case["input"]) if case.get("input") is not None else None,
                    "expected": case.get("expected"),
                    "expected_label": expected_row.get("expected_label"),
                    "outputs": outputs,
                }
            )
    return cases


#: hours in an average month (365.25 x 24 / 12), for hosting billed by the hour
HOURS_PER_MONTH = 730.5


def _cost(
    routes, baseline, candidate, comparison, layers, versus_candidate, monthly_volume, meets_policy=None
) -> dict[str, Any]:
    entries = []
    for ref in routes:
        summary = _summary(ref)
        cost = summary["cost_usd"]
        per_1k = cost and cost.get("per_1k")
        projected = summary.get("projected_cost_usd")
        # the decision's price: what the configured model bills, projected from the stand-in's tokens
        decision = projected["per_1k"] if projected is not None else per_1k
        hosting = _route_info(ref).get("hosting_usd_per_hour")
        hosting_month = hosting * HOURS_PER_MONTH if hosting is not None else None
        monthly = (
            decision * monthly_volume / 1000 + (hosting_month or 0.0)
            if decision is not None and monthly_volume
            else None
        )
        entries.append(
            {
                "name": ref.name,
                "per_1k": per_1k,
                "total": cost and cost.get("total"),
                "projected_per_1k": projected["per_1k"] if projected is not None else None,
                "decision_per_1k": decision,
                "projected": projected is not None,
                "cached_share": summary.get("cached_input_share"),
                "hosting_usd_per_month": hosting_month,
                "monthly_usd": monthly,
            }
        )
    against_baseline = {**layers, candidate: comparison}
    tokens = []
    for ref in routes:
        summary = _summary(ref)
        vs_base = against_baseline.get(ref.name)
        vs_cand = comparison if ref.name == baseline else versus_candidate.get(ref.name)
        tokens.append(
            {
                "name": ref.name,
                "input_mean": summary["tokens"]["input_mean"],
                "output_mean": summary["tokens"]["output_mean"],
                "vs_baseline": vs_base["tokens"]["input_mean"] if vs_base else None,
                "candidate_vs_this": vs_cand["tokens"]["input_mean"] if vs_cand else None,
            }
        )
    training = []
    for ref in routes:
        info = _route_info(ref)
        if info.get("kind") == "finetuned" or info.get("training_cost_usd") is not None:
            training.append(
                {
                    "name": ref.name,
                    "cost_usd": info.get("training_cost_usd"),
                    **{k: info.get(k) for k in ("base_model", "job_id", "provider", "training_file_sha256")},
                }
            )
    return {
        "monthly_volume": monthly_volume,
        "routes": entries,
        "prompt_tokens": tokens,
        "training": training,
        "candidate_vs_baseline": comparison["cost_usd"],
        "decision_per_1k": _decision_pair(entries, baseline, candidate),
        "break_even": _break_even(entries, routes, baseline, candidate, training, meets_policy),
    }


def _decision_pair(entries: list[dict[str, Any]], baseline: str, candidate: str) -> dict[str, Any]:
    """The candidate's and the baseline's price per 1,000 cases as the decision reads it (projected
    for stand-in answers, else billed), and the difference."""
    by_name = {e["name"]: e for e in entries}
    a, b = by_name[baseline]["decision_per_1k"], by_name[candidate]["decision_per_1k"]
    return {
        "a": a,
        "b": b,
        "delta": b - a if a is not None and b is not None else None,
        "projected": by_name[baseline]["projected"] or by_name[candidate]["projected"],
    }


def _break_even(entries, routes, baseline, candidate, training, meets_policy) -> dict[str, Any] | None:
    """Months for the tuned route to pay back its training: training cost / its monthly saving
    against the cheapest other route that meets the policy (else the baseline), at the monthly
    volume, counting its hosting. None when the candidate is not a tuned route."""
    by_name = {e["name"]: e for e in entries}
    trained = next((t for t in training if t["name"] == candidate), None)
    if trained is None:
        return None
    tuned = by_name[candidate]
    meeting = [
        e
        for e in entries
        if e["name"] != candidate and (meets_policy or {}).get(e["name"]) and e["monthly_usd"] is not None
    ]
    if meeting:
        against = min(meeting, key=lambda e: e["monthly_usd"])
        why = "the cheapest route that meets the policy"
    else:
        against = by_name[baseline]
        why = (
            "the baseline (no other route meets the policy)" if meets_policy is not None else "the baseline (no policy)"
        )
    result = {
        "route": candidate,
        "against": against["name"],
        "against_why": why,
        "training_cost_usd": trained["cost_usd"],
        "hosting_usd_per_month": tuned["hosting_usd_per_month"],
        "candidate_monthly_usd": tuned["monthly_usd"],
        "against_monthly_usd": against["monthly_usd"],
        "monthly_saving_usd": None,
        "months": None,
        "projected": bool(tuned["projected"] or against["projected"]),
    }
    if tuned["monthly_usd"] is None or against["monthly_usd"] is None:
        result["note"] = "needs the monthly volume (--monthly-volume or the suite's monthly_volume) and known costs"
        return result
    saving = against["monthly_usd"] - tuned["monthly_usd"]
    result["monthly_saving_usd"] = saving
    if trained["cost_usd"] is None:
        result["note"] = "the training cost is not recorded in the route"
    elif saving <= 0:
        result["note"] = f"never: it costs more a month than {against['name']}"
    else:
        result["months"] = trained["cost_usd"] / saving
    return result


def _shutdowns(routes) -> list[dict[str, Any]]:
    """Announced shutdown dates recorded in the manifest's routes (with where the date came from)."""
    result = []
    for ref in routes:
        info = _route_info(ref)
        if info.get("shutdown_date"):
            entry = {"name": ref.name, "model": info.get("model"), "shutdown_date": info["shutdown_date"]}
            entry.update({k: info[k] for k in ("shutdown_source", "retirement_warning") if info.get(k)})
            result.append(entry)
    return result


def _provenance(routes) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    for ref in routes:
        manifest = ref.run.manifest
        key = str(ref.run.dir)
        if key not in runs:
            git = manifest.get("git") or {}
            runs[key] = {
                "run_dir": key,
                "run_id": manifest.get("run_id"),
                "status": manifest.get("status"),
                "suite": manifest["suite"]["name"],
                "suite_sha256": manifest["suite"].get("sha256"),
                "cases_sha256": manifest.get("cases_sha256"),
                "evalkit_version": manifest.get("evalkit_version"),
                "git_commit": git.get("commit"),
                "git_dirty": git.get("dirty"),
                "started_at": manifest.get("started_at"),
                "ended_at": manifest.get("ended_at"),
                "offline": manifest.get("offline", False),
                "repeats": manifest.get("repeats", 1),
            }
    models = []
    for ref in routes:
        info = _route_info(ref)
        models.append(
            {
                "name": ref.name,
                "run_id": ref.run.manifest.get("run_id"),
                "kind": info.get("kind"),
                "model": info.get("model"),
                "ran_as": route_models(info).ran_as,
                "resolved_model": route_models(info).resolved,
            }
        )
    return {"runs": list(runs.values()), "models": models}


def no_policy_verdict() -> dict[str, Any]:
    return {
        "status": "no_policy",
        "headline": NO_POLICY,
        "checks": [],
        "exit_code": None,
        "policy": None,
        "policy_source": None,
    }


def verdict_from_gate(verdict, policy_source: str) -> dict[str, Any]:
    """The packet's verdict from a gate Verdict: the decision and one line per check."""
    data = verdict.to_dict()
    failed = [c for c in data["checks"] if not c["passed"]]
    undecided = [c for c in data["checks"] if c.get("status") in ("undecided", "too few cases")]
    warned = f" ({len(undecided)} undecided: warnings)" if undecided else ""
    if data["decision"] == "approve" and verdict.not_evidence:
        headline = "the policy's checks passed, on answers that are not evidence (NOT EVIDENCE)" + warned
    elif data["decision"] == "approve":
        headline = f"all {len(data['checks'])} checks passed" + warned
    elif data["decision"] == "incomplete":
        headline = (
            "the run is not complete enough to judge ("
            + "; ".join(c["reason"] for c in failed if c.get("kind") == "completeness")
            + ")"
        )
    else:
        headline = f"{len(failed)} of {len(data['checks'])} checks failed"
    return {
        "status": data["decision"],
        "headline": headline,
        "checks": data["checks"],
        "exit_code": data["exit_code"],
        "policy": data["policy"],
        "policy_source": policy_source,
        "evidence": data["evidence"],
        "operating_characteristics": data.get("operating_characteristics"),
    }


# -- the edge: load runs, compare, gate, then build --


def resolve_routes(run_dir: str | Path, baseline: str, candidate: str, with_routes: list[str] | None) -> list[RouteRef]:
    """The packet's routes in order: baseline, the others, candidate. Bare names are routes of
    RUN_DIR; `OTHER_RUN:ROUTE` names a route of another run. Without --with: every route of RUN_DIR."""
    from evalkit.store import load_run, parse_run_ref

    run_dir = Path(run_dir)
    runs: dict[Path, Run] = {}

    def run_of(directory: Path) -> Run:
        key = directory.resolve()
        if key not in runs:
            runs[key] = load_run(directory)
        return runs[key]

    main = run_of(run_dir)
    specs = [("baseline", baseline)]
    others = with_routes if with_routes is not None else [r for r in main.routes]
    specs += [("other", ref) for ref in others]
    specs.append(("candidate", candidate))
    resolved: list[tuple[str, str, Run, str]] = []
    for role, ref in specs:
        directory, route = parse_run_ref(ref, default_dir=run_dir)
        run = run_of(directory)
        if route not in run.manifest.get("routes", {}):
            raise BadInput(
                f"route {route!r} is not in the run {directory} (routes: {', '.join(run.routes)})",
                where=f"--{role if role != 'other' else 'with'}",
            )
        resolved.append((role, ref, run, route))
    seen: set[tuple[Path, str]] = set()
    ordered = []
    for role, ref, run, route in [resolved[0], resolved[-1], *resolved[1:-1]]:
        key = (run.dir.resolve(), route)
        if key in seen:
            if role != "other":
                raise BadInput("the baseline and the candidate are the same route: choose two different routes")
            continue
        seen.add(key)
        ordered.append((role, ref, run, route))
    base, cand, rest = ordered[0], ordered[1], ordered[2:]
    names: set[str] = set()
    refs = []
    for _role, ref, run, route in [base, *rest, cand]:
        name = route if route not in names else f"{route} ({run.dir.name})"
        names.add(name)
        refs.append(RouteRef(name, ref, run, route))
    return refs


def make_packet(
    run_dir: str | Path,
    *,
    baseline: str,
    candidate: str,
    with_routes: list[str] | None = None,
    policy: str | Path | None = None,
    monthly_volume: int | None = None,
    seed: int = 0,
    n_boot: int | None = None,
    allow_unverified: bool = False,
) -> dict[str, Any]:
    """Load the runs, compare every route with the baseline and the candidate, run the gate
    (the --policy file, else the candidate suite's `gate:` section), and build the packet."""
    from datetime import datetime, timezone

    from evalkit import __version__
    from evalkit.compare import compare
    from evalkit.metrics import N_BOOT

    if monthly_volume is not None and monthly_volume < 1:
        raise BadInput(f"--monthly-volume must be a positive number of cases, got {monthly_volume}")
    n_boot = n_boot or N_BOOT
    routes = resolve_routes(run_dir, baseline, candidate, with_routes)
    base, cand = routes[0], routes[-1]
    verdict, comparison = _gate(policy, base, cand, seed=seed, n_boot=n_boot, allow_unverified=allow_unverified)
    if comparison is None:
        comparison = compare(base.run, base.route, cand.run, cand.route, seed=seed, n_boot=n_boot)
    others = routes[1:-1]
    layers = {r.name: compare(base.run, base.route, r.run, r.route, seed=seed, n_boot=n_boot) for r in others}
    versus = {r.name: compare(r.run, r.route, cand.run, cand.route, seed=seed, n_boot=n_boot) for r in others}
    meets = _meets_policy(policy, routes, seed=seed, n_boot=n_boot, allow_unverified=allow_unverified)
    return build_packet(
        routes,
        baseline=base.name,
        candidate=cand.name,
        comparison=comparison,
        layers=layers,
        versus_candidate=versus,
        verdict=verdict,
        monthly_volume=monthly_volume,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        evalkit_version=__version__,
        meets_policy=meets,
    )


def _meets_policy(
    policy_path, routes: list[RouteRef], *, seed: int, n_boot: int, allow_unverified: bool
) -> dict[str, bool] | None:
    """For every route but the candidate: does it pass the policy as the candidate against the
    baseline? None without a policy."""
    base = routes[0]
    results = {}
    for ref in routes[:-1]:
        try:
            verdict, _ = _gate(policy_path, base, ref, seed=seed, n_boot=n_boot, allow_unverified=allow_unverified)
        except BadInput:  # a route the policy cannot judge does not meet it
            results[ref.name] = False
            continue
        if verdict["status"] == "no_policy":
            return None
        results[ref.name] = verdict["status"] == "approve"
    return results


def _gate(policy_path, base: RouteRef, cand: RouteRef, *, seed: int, n_boot: int, allow_unverified: bool):
    from evalkit.gate import evaluate_gate
    from evalkit.policy import GatePolicy, load_policy, policy_of_run

    policy: GatePolicy | None
    if policy_path is not None:
        policy, source = load_policy(policy_path), str(policy_path)
    else:
        policy = policy_of_run(cand.run.manifest, where=f"{cand.run.dir}/manifest.json")
        source = f"the gate: section of suite {cand.run.manifest['suite']['name']}"
    if policy is None:
        return no_policy_verdict(), None
    verdict = evaluate_gate(
        policy,
        cand.run,
        cand.route,
        baseline=(base.run, base.route),
        seed=seed,
        n_boot=n_boot,
        allow_unverified=allow_unverified,
    )
    return verdict_from_gate(verdict, source), verdict.comparison


def write_packet(packet: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write packet.json, packet.html and packet.md into `out` (created if needed)."""
    import json

    from evalkit.report.html import render_html
    from evalkit.report.packet_markdown import render_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "packet.html", "md": out / "packet.md", "json": out / "packet.json"}
    paths["json"].write_text(json.dumps(packet, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(packet), encoding="utf-8")
    paths["md"].write_text(render_markdown(packet), encoding="utf-8")
    return paths
