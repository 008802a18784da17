"""The gate (DESIGN section 8): checks a candidate route against a policy; a pure function.

Exit codes: 0 every check passed (approve), 1 a check failed (reject), 3 the run is
incomplete (the run stopped early, or error rows beyond the error budget), which wins
over 1 so a dead endpoint is never read as a bad model. Every check is evaluated and
reported whatever the others say.

Choices, documented here and in docs/ci.md:
* `require_significant_improvement` uses McNemar's exact p (`p_exact`), the conservative
  one, on majority-vote correctness per case; the candidate must also fix more cases
  than it breaks.
* `max_drop` with `drop_on: ci95` takes the lower bound of the paired 95% interval of
  candidate minus baseline: Newcombe's interval for accuracy (reliable at n = 30), the
  paired case bootstrap for the other metrics.
* per-tag macro-F1 averages over the labels that the tag's cases expect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.errors import BadInput, RunIncomplete
from evalkit.metrics import (ERROR, METRIC_NAMES, N_BOOT, UNPARSED, confusion_counts, per_class_scores, predicted_value,
                             summarize_route)
from evalkit.policy import GatePolicy, parse_policy
from evalkit.store import Run

EPSILON = 1e-12  # thresholds are met exactly at equality, whatever the floating point says

APPROVE, REJECT, INCOMPLETE = 0, 1, 3
#: the share of error rows beyond which a route's run counts as incomplete when the policy sets
#: no error_budget (the run's own --max-error-rate default): a route of error rows is never approved
DEFAULT_ERROR_BUDGET = 0.5


@dataclass
class Check:
    """One line of the verdict. `kind` is "quality" (a failure rejects, exit 1) or
    "completeness" (a failure means the run is incomplete, exit 3)."""

    name: str
    value: float | None
    threshold: float | None
    passed: bool
    reason: str
    op: str = ">="
    kind: str = "quality"


@dataclass
class Verdict:
    candidate: str
    baseline: str | None
    checks: list[Check]
    policy: dict[str, Any]
    comparison: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def exit_code(self) -> int:
        if any(c.kind == "completeness" for c in self.failed):
            return INCOMPLETE
        return REJECT if self.failed else APPROVE

    @property
    def decision(self) -> str:
        return {APPROVE: "approve", REJECT: "reject", INCOMPLETE: "incomplete"}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "baseline": self.baseline, "decision": self.decision,
                "exit_code": self.exit_code, "checks": [asdict(c) for c in self.checks],
                "policy": self.policy, "comparison": self.comparison}


def _at_least(name: str, what: str, value: float | None, floor: float, n: int, missing: str | None = None) -> Check:
    if value is None:
        return Check(name, None, floor, False, f"{what} is undefined{': ' + missing if missing else ''}")
    passed = value >= floor - EPSILON
    verb = "meets" if passed else "is below"
    return Check(name, value, floor, passed, f"{what} {value:.3f} (n={n}) {verb} the floor {floor:.3f}")


# -- completeness --

def _completeness(run: Run, rows: list[dict[str, Any]], role: str, budget: float | None) -> list[Check]:
    """The run is complete, and the route's error rows are within the budget (the policy's, else
    DEFAULT_ERROR_BUDGET: whatever a policy leaves out, errors are never approved)."""
    default = budget is None
    budget = DEFAULT_ERROR_BUDGET if default else budget
    status = run.manifest.get("status", "complete")
    checks = [Check(f"complete.{role}", None, None, status == "complete",
                    f"the {role} run is complete" if status == "complete" else
                    f"the {role} run is {status}: finish it with `evalkit run SUITE --resume {run.dir}"
                    f"{' --retry-errors' if run.manifest.get('error_rate_exceeded') else ''}`",
                    op="", kind="completeness")]
    errors = [r for r in rows if r.get("error")]
    share = len(errors) / len(rows) if rows else 1.0
    kinds = {}
    for row in errors:
        kinds[row["error"]["type"]] = kinds.get(row["error"]["type"], 0) + 1
    detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})" if kinds else ""
    passed = share <= budget + EPSILON
    reason = (f"{len(errors)} of {len(rows)} {role} rows ({share:.1%}) are errors{detail}; "
              f"{'within' if passed else 'beyond'} the {'default ' if default else ''}budget of {budget:.1%}")
    checks.append(Check(f"error_budget.{role}", share, budget, passed, reason, op="<=", kind="completeness"))
    return checks


# -- floors --

def _tag_metrics(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    from evalkit.stats import cohen_kappa

    n = len(rows)
    with_output = sum(1 for r in rows if not r.get("error"))
    y_true = [r["expected_label"] for r in rows]
    y_pred = [predicted_value(r) for r in rows]
    kappa, reason = cohen_kappa(y_true, y_pred, [*labels, UNPARSED, ERROR])
    per_class = per_class_scores(confusion_counts(rows, labels), labels)
    present = [per_class[label]["f1"] for label in labels if per_class[label]["support"]]
    return {
        "parse_rate": sum(1 for r in rows if r.get("parsed_ok")) / with_output if with_output else None,
        "accuracy": sum(1 for r in rows if r.get("correct")) / n,
        "kappa": kappa, "kappa_reason": reason,
        "macro_f1": sum(present) / len(present),
        "n": n,
    }


def _floors(policy: GatePolicy, summary: dict[str, Any], rows: list[dict[str, Any]], labels: list[str]) -> list[Check]:
    checks = []
    for metric, floor in (policy.min.model_dump(exclude_none=True) if policy.min else {}).items():
        entry = summary[metric]
        checks.append(_at_least(f"min.{metric}", METRIC_NAMES[metric], entry["value"], floor, entry["n"], entry.get("reason")))
    for tag, floors in policy.min_by_tag.items():
        tagged = [r for r in rows if tag in (r.get("tags") or [])]
        values = _tag_metrics(tagged, labels)
        for metric, floor in floors.model_dump(exclude_none=True).items():
            what = f"{METRIC_NAMES[metric]} on tag {tag!r}"
            checks.append(_at_least(f"min_by_tag.{tag}.{metric}", what, values[metric], floor, values["n"],
                                    values["kappa_reason"] if metric == "kappa" else None))
    for label, floors in policy.min_by_label.items():
        per_class = summary["per_class"][label]
        for metric, floor in floors.model_dump(exclude_none=True).items():
            checks.append(_at_least(f"min_by_label.{label}.{metric}", f"{metric} of {label!r}", per_class[metric],
                                    floor, per_class["support"]))
    return checks


# -- against the baseline --

def _drops(policy: GatePolicy, comparison: dict[str, Any]) -> list[Check]:
    checks = []
    for metric, allowed in (policy.max_drop.model_dump(exclude_none=True) if policy.max_drop else {}).items():
        entry = comparison["metrics"][metric]
        name, what = f"max_drop.{metric}", METRIC_NAMES[metric]
        if entry["delta"] is None:
            checks.append(Check(name, None, allowed, False, f"{what} delta is undefined: {entry.get('reason', 'no value')}", op="<="))
            continue
        head = f"candidate {what} {entry['b']:.3f} vs baseline {entry['a']:.3f} (n={entry['n']})"
        if policy.drop_on == "point":
            drop = -entry["delta"]
            basis = f"a drop of {drop:.3f}" if drop > 0 else f"no drop (delta {entry['delta']:+.3f})"
        else:
            ci, method = (entry["newcombe"]["ci95"], "Newcombe") if metric == "accuracy" else (entry["ci95"], "bootstrap")
            if ci is None:
                checks.append(Check(name, None, allowed, False, f"{head}: no paired 95% interval to bound the drop", op="<="))
                continue
            drop = -ci[0]
            bounds = f"the paired 95% interval ({method}) [{ci[0]:.3f}, {ci[1]:.3f}]"
            basis = f"{bounds} allows a drop of up to {drop:.3f}" if drop > 0 else f"{bounds} excludes any drop"
        passed = drop <= allowed + EPSILON
        checks.append(Check(name, drop, allowed, passed,
                            f"{head}: {basis}, {'within' if passed else 'more than'} the {allowed:.3f} allowed", op="<="))
    return checks


def _significance(policy: GatePolicy, comparison: dict[str, Any]) -> list[Check]:
    if not policy.require_significant_improvement:
        return []
    m = comparison["mcnemar"]
    better = m["c"] > m["b"]
    significant = m["p_exact"] < policy.alpha
    head = f"candidate fixed {m['c']} and broke {m['b']} of {m['n']} paired cases: McNemar exact p = {m['p_exact']:.4f}"
    if better and significant:
        reason = f"{head}, below alpha {policy.alpha}"
    elif not better:
        reason = f"{head}: the candidate is not better than the baseline"
    else:
        reason = f"{head}, not below alpha {policy.alpha}"
    return [Check("require_significant_improvement", m["p_exact"], policy.alpha, better and significant, reason, op="<")]


# -- cost and latency --

def _ceilings(policy: GatePolicy, summary: dict[str, Any], model: str) -> list[Check]:
    checks = []
    if policy.max_cost_per_1k_usd is not None:
        ceiling, cost = policy.max_cost_per_1k_usd, summary["cost_usd"]
        if cost is None:
            checks.append(Check("max_cost_per_1k_usd", None, ceiling, False,
                                f"cost unknown: no price for {model} (add one under pricing: in the suite) or rows without token counts", op="<="))
        else:
            passed = cost["per_1k"] <= ceiling + EPSILON
            checks.append(Check("max_cost_per_1k_usd", cost["per_1k"], ceiling, passed,
                                f"${cost['per_1k']:.4f} per 1,000 cases {'within' if passed else 'above'} the ceiling ${ceiling:.4f}", op="<="))
    if policy.max_latency_p95_ms is not None:
        ceiling, latency = policy.max_latency_p95_ms, summary["latency_ms"]
        if latency["p95"] is None:
            checks.append(Check("max_latency_p95_ms", None, ceiling, False, "no latency recorded (no row returned an output)", op="<="))
        else:
            passed = latency["p95"] <= ceiling + EPSILON
            checks.append(Check("max_latency_p95_ms", latency["p95"], ceiling, passed,
                                f"p95 latency {latency['p95']:.0f} ms over {latency['n']} rows {'within' if passed else 'above'} the ceiling {ceiling:.0f} ms", op="<="))
    return checks


# -- the verdict --

def _validate_against_run(policy: GatePolicy, rows: list[dict[str, Any]], labels: list[str], needs_baseline: bool, has_baseline: bool) -> None:
    if not policy.sets_checks():
        raise BadInput("the gate policy sets no checks (min, max_drop, error_budget, ...): nothing to approve against")
    unknown_labels = [label for label in policy.min_by_label if label not in labels]
    if unknown_labels:
        raise BadInput(f"gate policy: min_by_label.{unknown_labels[0]} is not a label of the suite ({', '.join(labels)})")
    tags = sorted({t for r in rows for t in (r.get("tags") or [])})
    unknown_tags = [tag for tag in policy.min_by_tag if tag not in tags]
    if unknown_tags:
        raise BadInput(f"gate policy: min_by_tag.{unknown_tags[0]}: no case of the candidate carries this tag "
                       f"(tags: {', '.join(tags) or 'none'})")
    if needs_baseline and not has_baseline:
        raise BadInput("the gate policy compares against a baseline (max_drop or require_significant_improvement) "
                       "but none is set: add baseline: to the policy or pass --baseline")


def evaluate_gate(policy: GatePolicy | dict[str, Any], candidate_run: Run, route: str | None = None,
                  baseline: tuple[Run, str] | None = None, *, seed: int = 0, n_boot: int = N_BOOT) -> Verdict:
    """Check `route` of `candidate_run` against the policy (and the baseline, when there is one).

    `route` defaults to the policy's `candidate`; `baseline` to the policy's `baseline`
    route in the candidate's run. The comparison, when made, is exactly `compare(baseline, candidate)`.
    """
    from evalkit.compare import compare

    if not isinstance(policy, GatePolicy):
        policy = parse_policy(policy, where="gate policy")
    route = route or policy.candidate
    if not route:
        raise BadInput("no candidate route: pass --route or set candidate: in the gate policy")
    if baseline is None and policy.baseline:
        baseline = (candidate_run, policy.baseline)
    if baseline is not None and baseline[1] == route and baseline[0].dir == candidate_run.dir:
        raise BadInput(f"the baseline is the candidate itself ({route}): choose another baseline route")

    rows = candidate_run.route_rows(route)
    if not rows:
        raise RunIncomplete(f"route {route!r} has no result rows in {candidate_run.dir}: the run did not get to it")
    labels = candidate_run.labels
    needs_baseline = bool(policy.require_significant_improvement or (policy.max_drop and policy.max_drop.model_dump(exclude_none=True)))
    _validate_against_run(policy, rows, labels, needs_baseline, baseline is not None)
    summary = summarize_route(rows, labels, seed=seed, n_boot=n_boot)

    checks = _completeness(candidate_run, rows, "candidate", policy.error_budget)
    comparison = None
    if baseline is not None:
        base_run, base_route = baseline
        base_rows = base_run.route_rows(base_route)
        if base_run.dir == candidate_run.dir:
            checks += [c for c in _completeness(base_run, base_rows, "baseline", policy.error_budget) if c.name.startswith("error_budget")]
        else:
            checks += _completeness(base_run, base_rows, "baseline", policy.error_budget)
        comparison = compare(base_run, base_route, candidate_run, route, seed=seed, n_boot=n_boot)
    checks += _floors(policy, summary, rows, labels)
    if comparison is not None:
        checks += _drops(policy, comparison) + _significance(policy, comparison)
    model = candidate_run.manifest["routes"][route].get("ran_as") or candidate_run.manifest["routes"][route].get("model")
    checks += _ceilings(policy, summary, model)
    return Verdict(candidate=f"{candidate_run.dir}:{route}",
                   baseline=f"{baseline[0].dir}:{baseline[1]}" if baseline else None,
                   checks=checks, policy=policy.model_dump(mode="json", exclude_none=True), comparison=comparison)
