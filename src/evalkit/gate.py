"""The gate: checks a candidate route against a policy; a pure function.

Exit codes: 0 every check passed (approve), 1 a check failed (reject), 3 the run is
incomplete (the run stopped early, or error rows beyond the error budget), which wins
over 1 so a dead endpoint is never read as a bad model. Every check is evaluated and
reported whatever the others say.

Choices, documented here and in docs/ci.md:
* `require_significant_improvement` is the one-sided exact McNemar test at `alpha` (the
  exact paired sign-flip test with repeats) on per-call correctness paired by case, the
  same estimand as the delta it prints: p_one_sided = P(at least c fixed of b + c
  discordant | Binomial(b + c, 1/2)). Exact, not mid-p: its false-approval rate is at most
  alpha for every number of discordant pairs, not only on average.
* `max_drop` with `drop_on: ci95` (the default) takes the lower bound of the paired 95%
  interval of candidate minus baseline: Newcombe's interval for accuracy (reliable at
  n = 30), the paired BCa case bootstrap for the other metrics. `drop_on: point` decides on
  the observed delta and its reason states how often that approves a worse candidate.
* `min_by_tag` and `min_by_label` floors are decided on the 95% interval (pass, fail or
  undecided; below `min_cases` cases: too few cases to decide). Undecided floors are
  warnings, never a rejection. Overall `min` floors decide on the point estimate.
* per-tag macro-F1 averages over the labels that the tag's cases expect.
* the verdict carries its operating characteristics: the probability that the paired
  accuracy checks approve a candidate worse by the margin, as good, and better by the
  smallest detectable difference, at this n and this share of discordant pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.errors import BadInput, RunIncomplete
from evalkit.field_metrics import FIELD_METRICS, metrics_for
from evalkit.headline import HEADLINE, label_of
from evalkit.metrics import N_BOOT, headline_entries, predicted_value, summarize_route
from evalkit.policy import GatePolicy, parse_policy
from evalkit.provenance import MEANING, describe, provenance_of_route, route_models
from evalkit.store import Run

EPSILON = 1e-12  # thresholds are met exactly at equality, whatever the floating point says
PASS, FAIL, UNDECIDED, TOO_FEW = "pass", "fail", "undecided", "too few cases"
#: the reference 'worse' candidate of the operating characteristics when the margin is smaller
WORSE_REFERENCE = 0.05
POWER = 0.80

APPROVE, REJECT, INCOMPLETE = 0, 1, 3
#: the share of error rows beyond which a route's run counts as incomplete when the policy sets
#: no error_budget (the run's own --max-error-rate default): a route of error rows is never approved
DEFAULT_ERROR_BUDGET = 0.5


@dataclass
class Check:
    """One line of the verdict. `category` is "quality" (a failure rejects, exit 1),
    "completeness" (a failure means the run is incomplete, exit 3) or "evidence" (the answers
    did not come from the configured model: a failure rejects, unless the gate was told to
    evaluate unverified answers, and then every output says NOT EVIDENCE)."""

    name: str
    value: float | None
    threshold: float | None
    passed: bool
    reason: str
    op: str = ">="
    category: str = "quality"  # written as `kind` in the verdict's JSON
    status: str | None = None  # pass, fail, undecided or "too few cases"; the last two pass, as warnings
    ci95: list[float] | None = None
    n: int | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            self.status = PASS if self.passed else FAIL

    def to_dict(self) -> dict[str, Any]:
        """The check as the verdict's JSON gives it (its category under the key `kind`)."""
        data = asdict(self)
        data["kind"] = data.pop("category")
        return data

    @property
    def warning(self) -> bool:
        return self.status in (UNDECIDED, TOO_FEW)


@dataclass
class Verdict:
    candidate: str
    baseline: str | None
    checks: list[Check]
    policy: dict[str, Any]
    comparison: dict[str, Any] | None = field(default=None, repr=False)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> route, provenance, endpoint
    allow_unverified: bool = False
    operating_characteristics: dict[str, Any] | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def not_evidence(self) -> list[Check]:
        """The evidence checks that failed: routes answered by anything but the configured model."""
        return [c for c in self.failed if c.category == "evidence"]

    @property
    def blocking(self) -> list[Check]:
        """The failures that decide the exit (evidence failures are waived by --allow-unverified)."""
        return [c for c in self.failed if not (c.category == "evidence" and self.allow_unverified)]

    @property
    def undecided(self) -> list[Check]:
        """Checks that passed only because they could not be decided: warnings."""
        return [c for c in self.checks if c.warning]

    @property
    def exit_code(self) -> int:
        if any(c.category == "completeness" for c in self.failed):
            return INCOMPLETE
        return REJECT if self.blocking else APPROVE

    @property
    def decision(self) -> str:
        return {APPROVE: "approve", REJECT: "reject", INCOMPLETE: "incomplete"}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "decision": self.decision,
            "exit_code": self.exit_code,
            "evidence": self.evidence_summary(),
            "checks": [c.to_dict() for c in self.checks],
            "warnings": [f"{c.name}: {c.reason}" for c in self.undecided],
            "operating_characteristics": self.operating_characteristics,
            "policy": self.policy,
            "comparison": self.comparison,
        }

    def evidence_summary(self) -> dict[str, Any]:
        """{verified, allow_unverified, notice, routes}: `notice` is the NOT EVIDENCE line, or None."""
        return {
            "verified": not self.not_evidence,
            "allow_unverified": self.allow_unverified,
            "notice": self.evidence_notice(),
            "routes": self.provenance,
        }

    def evidence_notice(self) -> str | None:
        if not self.not_evidence:
            return None
        what = "; ".join(
            f"{info['route']} ({role}) is {describe(info)}"
            for role, info in self.provenance.items()
            if not info.get("evidence")
        )
        return f"NOT EVIDENCE: {what}, not answers of the configured model"


def _bound(
    name: str, what: str, value: float | None, bound: float, n: int, higher_is_better: bool, missing: str | None = None
) -> Check:
    """A floor on a metric where higher is better, a ceiling where lower is."""
    op = ">=" if higher_is_better else "<="
    if value is None:
        return Check(name, None, bound, False, f"{what} is undefined{': ' + missing if missing else ''}", op=op)
    if higher_is_better:
        passed = value >= bound - EPSILON
        verdict = f"{'meets' if passed else 'is below'} the floor"
    else:
        passed = value <= bound + EPSILON
        verdict = f"{'within' if passed else 'above'} the ceiling"
    return Check(name, value, bound, passed, f"{what} {value:.3f} (n={n}) {verdict} {bound:.3f}", op=op, n=n)


# -- evidence --


def _evidence(run: Run, route: str, role: str) -> tuple[Check, dict[str, Any]]:
    """Did the configured model answer this route? Live, cached and verified recorded answers
    are evidence; stand-ins, unverified and stale recordings are not."""
    info = {"route": route, **provenance_of_route(run.manifest, route, run.route_rows(route))}
    provenance = info["provenance"]
    model = run.manifest["routes"][route].get("model")
    if info["evidence"]:
        reason = f"{route} answered by {model}: {describe(info)}"
        return Check(f"evidence.{role}", None, None, True, reason, op="", category="evidence"), info
    if provenance is None:
        reason = f"{route} has no answered rows: nothing to judge {model} by"
    else:
        reason = (
            f"{route} is {describe(info)}: {MEANING[provenance]}, not evidence about {model}; "
            f"{_remedy(run, provenance)}"
        )
    return Check(f"evidence.{role}", None, None, False, reason, op="", category="evidence"), info


def _remedy(run: Run, provenance: str) -> str:
    suite = run.manifest.get("suite", {}).get("path", "SUITE")
    recording = run.manifest.get("replay") or "RECORDING"
    record = (
        f"re-record: `evalkit run {suite} --out LIVE_RUN` with the key, "
        f"then `evalkit record LIVE_RUN --out {recording}`"
    )
    if provenance == "stand-in":
        return f"run the suite against the configured models (without --offline), or {record}"
    return record


# -- completeness --


def _completeness(run: Run, rows: list[dict[str, Any]], role: str, budget: float | None) -> list[Check]:
    """The run is complete, and the route's error rows are within the budget (the policy's, else
    DEFAULT_ERROR_BUDGET: whatever a policy leaves out, errors are never approved)."""
    default = budget is None
    budget = DEFAULT_ERROR_BUDGET if budget is None else budget
    status = run.manifest.get("status", "complete")
    checks = [
        Check(
            f"complete.{role}",
            None,
            None,
            status == "complete",
            f"the {role} run is complete"
            if status == "complete"
            else f"the {role} run is {status}: finish it with `evalkit run SUITE --resume {run.dir}"
            f"{' --retry-errors' if run.manifest.get('error_rate_exceeded') else ''}`",
            op="",
            category="completeness",
        )
    ]
    errors = [r for r in rows if r.get("error")]
    share = len(errors) / len(rows) if rows else 1.0
    kinds: dict[str, int] = {}
    for row in errors:
        kinds[row["error"]["type"]] = kinds.get(row["error"]["type"], 0) + 1
    detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(kinds.items()))})" if kinds else ""
    passed = share <= budget + EPSILON
    reason = (
        f"{len(errors)} of {len(rows)} {role} rows ({share:.1%}) are errors{detail}; "
        f"{'within' if passed else 'beyond'} the {'default ' if default else ''}budget of {budget:.1%}"
    )
    checks.append(Check(f"error_budget.{role}", share, budget, passed, reason, op="<=", category="completeness"))
    return checks


# -- floors --


def _on_interval(
    name: str,
    what: str,
    value: float | None,
    ci: list[float] | None,
    floor: float,
    n: int,
    min_cases: int,
    missing: str | None = None,
) -> Check:
    """A floor on a small group, decided on its 95% interval: pass when the lower bound meets the
    floor, fail when the upper bound is below it, otherwise undecided; below min_cases cases,
    too few cases to decide. The last two are warnings (the check passes)."""
    if n < min_cases:
        shown = f" ({what} {value:.3f}{' ' + _ci_text(ci) if ci else ''})" if value is not None else ""
        return Check(
            name,
            value,
            floor,
            True,
            f"too few cases to decide: n={n} is below min_cases {min_cases}{shown}",
            status=TOO_FEW,
            ci95=ci,
            n=n,
        )
    if value is None:
        return Check(name, None, floor, False, f"{what} is undefined{': ' + missing if missing else ''} (n={n})", n=n)
    if ci is None:
        return Check(
            name,
            value,
            floor,
            True,
            f"{what} {value:.3f} (n={n}) has no interval: undecided against the floor {floor:.3f}",
            status=UNDECIDED,
            n=n,
        )
    head = f"{what} {value:.3f} {_ci_text(ci)} (n={n})"
    if ci[0] >= floor - EPSILON:
        return Check(
            name, value, floor, True, f"{head}: the interval is at or above the floor {floor:.3f}", ci95=ci, n=n
        )
    if ci[1] < floor - EPSILON:
        return Check(name, value, floor, False, f"{head}: the interval is below the floor {floor:.3f}", ci95=ci, n=n)
    return Check(
        name,
        value,
        floor,
        True,
        f"{head}: undecided, the interval straddles the floor {floor:.3f} (a warning, not a rejection)",
        status=UNDECIDED,
        ci95=ci,
        n=n,
    )


def _ci_text(ci: list[float]) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _label_metrics(rows: list[dict[str, Any]], label: str, summary: dict[str, Any]) -> dict[str, Any]:
    """(value, interval, n cases) of a label's precision (over the cases predicted as the label),
    recall (over the cases that expect it) and F1 (BCa, over the whole suite)."""
    from evalkit.metrics import case_rate

    predicted = case_rate([r for r in rows if predicted_value(r) == label], lambda r: r.get("correct"))
    expected = case_rate([r for r in rows if r["expected_label"] == label], lambda r: r.get("correct"))
    per_class = summary["per_class"][label]
    return {
        "precision": (per_class["precision"], predicted["ci95"], predicted["n"]),
        "recall": (per_class["recall"], expected["ci95"], expected["n"]),
        "f1": (per_class["f1"], per_class.get("f1_ci95"), expected["n"]),
    }


def _floors(
    policy: GatePolicy,
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    labels: list[str],
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> list[Check]:
    checks = []
    for metric, floor in (policy.min.model_dump(exclude_none=True) if policy.min else {}).items():
        entry = summary[metric]
        higher = HEADLINE[metric].higher_is_better
        checks.append(
            _bound(f"min.{metric}", label_of(metric), entry["value"], floor, entry["n"], higher, entry.get("reason"))
        )
    for tag, floors in policy.min_by_tag.items():
        tagged = [r for r in rows if tag in (r.get("tags") or [])]
        # Wilson rates clustered by case, the others from the case bootstrap (macro-F1 over the
        # labels the tag's cases expect)
        entries, _ = headline_entries(tagged, labels, seed=seed, n_boot=n_boot)
        for metric, floor in floors.model_dump(exclude_none=True).items():
            entry = entries[metric]
            checks.append(
                _on_interval(
                    f"min_by_tag.{tag}.{metric}",
                    f"{label_of(metric)} on tag {tag!r}",
                    entry["value"],
                    entry["ci95"],
                    floor,
                    entry["n"],
                    policy.min_cases,
                    entry.get("reason"),
                )
            )
    for label, label_floors in policy.min_by_label.items():
        values = _label_metrics(rows, label, summary)
        for metric, floor in label_floors.model_dump(exclude_none=True).items():
            value, ci, n = values[metric]
            checks.append(
                _on_interval(
                    f"min_by_label.{label}.{metric}", f"{metric} of {label!r}", value, ci, floor, n, policy.min_cases
                )
            )
    for key, floor in policy.min_fields.items():
        field, metric = key.rsplit(".", 1)
        entry = summary["fields"][field][metric]
        what = f"{FIELD_METRICS[metric].label} of {field!r}"
        higher = FIELD_METRICS[metric].higher_is_better
        checks.append(_bound(f"min.{key}", what, entry["value"], floor, entry["n"], higher))
    return checks


def _judges(policy: GatePolicy, summary: dict[str, Any], fields: dict[str, Any]) -> list[Check]:
    """A check on a judged field's metric needs a judge that agrees with the cases' human grades."""
    judged = sorted(
        {
            key.rsplit(".", 1)[0]
            for key in [*policy.min_fields, *policy.max_drop_fields]
            if (fields.get(key.rsplit(".", 1)[0]) or {}).get("judge")
        }
    )
    checks = []
    for name in judged:
        judge = summary.get("fields", {}).get(name, {}).get("judge_agreement") or {}
        agreement = judge.get("weighted_kappa") or {}
        value, floor = agreement.get("value"), policy.judge_agreement_min
        if value is None:
            reason = (
                f"the judge of {name!r} has no human grades to agree with: "
                f"add grades: {{{name}: ...}} to cases, or set allow_unvalidated_judge"
            )
            passed = False
        else:
            passed = value >= floor - EPSILON
            reason = (
                f"the judge of {name!r} agrees with the human grades at weighted kappa {value:.3f} "
                f"(n={agreement.get('n')}), {'at least' if passed else 'below'} {floor:.3f}"
            )
        if not passed and policy.allow_unvalidated_judge:
            reason += " (allowed by allow_unvalidated_judge)"
            passed = True
        checks.append(Check(f"judge.{name}", value, floor, passed, reason, n=agreement.get("n")))
    return checks


# -- against the baseline --


def _drops(policy: GatePolicy, comparison: dict[str, Any]) -> list[Check]:
    checks = []
    for metric, allowed in (policy.max_drop.model_dump(exclude_none=True) if policy.max_drop else {}).items():
        entry = comparison["metrics"][metric]
        ci, method = (
            (entry["newcombe"]["ci95"], "Newcombe") if "newcombe" in entry else (entry["ci95"], "BCa bootstrap")
        )
        risk = _point_rule_risk(metric, allowed, comparison) if policy.drop_on == "point" else None
        checks.append(
            _drop(policy, metric, label_of(metric), entry, allowed, HEADLINE[metric].higher_is_better, ci, method, risk)
        )
    for key, allowed in policy.max_drop_fields.items():
        field, metric = key.rsplit(".", 1)
        entry = (comparison.get("fields") or {}).get(field, {}).get(metric)
        what = f"{FIELD_METRICS[metric].label} of {field!r}"
        if entry is None:
            missing = f"{what}: no paired values to compare"
            checks.append(Check(f"max_drop.{key}", None, allowed, False, missing, op="<="))
            continue
        higher = FIELD_METRICS[metric].higher_is_better
        checks.append(_drop(policy, key, what, entry, allowed, higher, entry.get("ci95"), "paired bootstrap", None))
    return checks


def _drop(
    policy: GatePolicy,
    key: str,
    what: str,
    entry: dict[str, Any],
    allowed: float,
    higher_is_better: bool,
    ci: list[float] | None,
    method: str,
    risk: str | None,
) -> Check:
    """max_drop.KEY: how much worse than the baseline the candidate may be, on the paired 95%
    interval of candidate minus baseline (`drop_on: ci95`) or on the observed difference, whose
    `risk` (what deciding on the point estimate costs) the reason then states."""
    name = f"max_drop.{key}"
    if entry["delta"] is None:
        missing = f"{what} delta is undefined: {entry.get('reason', 'no value')}"
        return Check(name, None, allowed, False, missing, op="<=")
    sign = 1.0 if higher_is_better else -1.0
    head = f"candidate {what} {entry['b']:.3f} vs baseline {entry['a']:.3f} (n={entry['n']})"
    if policy.drop_on == "point":
        drop = -sign * entry["delta"]
        basis = f"a drop of {drop:.3f}" if drop > 0 else f"no drop (delta {entry['delta']:+.3f})"
    elif ci is None:
        return Check(name, None, allowed, False, f"{head}: no paired 95% interval to bound the drop", op="<=")
    else:
        drop = -ci[0] if higher_is_better else ci[1]
        bounds = f"the paired 95% interval ({method}) [{ci[0]:.3f}, {ci[1]:.3f}]"
        basis = f"{bounds} allows a drop of up to {drop:.3f}" if drop > 0 else f"{bounds} excludes any drop"
    passed = drop <= allowed + EPSILON
    reason = f"{head}: {basis}, {'within' if passed else 'more than'} the {allowed:.3f} allowed"
    if risk:
        reason += "; " + risk
    return Check(name, drop, allowed, passed, reason, op="<=", n=entry["n"])


def _point_rule_risk(metric: str, allowed: float, comparison: dict[str, Any]) -> str:
    """What deciding on the point estimate costs: how often it approves a worse candidate at this n."""
    from evalkit.stats import approval_probability

    if metric != "accuracy":
        return "deciding on the point estimate ignores the uncertainty of the delta (drop_on: ci95 bounds it)"
    n, psi, acc_a = _oc_inputs(comparison)
    worse = max(allowed, WORSE_REFERENCE)
    p = approval_probability(n, -worse, psi, acc_a, margin=allowed, drop_on="point")
    return (
        f"deciding on the point estimate approves a candidate truly {_points(worse)} worse with probability "
        f"{p:.2f} at n={n} (drop_on: ci95 bounds the drop by its interval instead)"
    )


def _significance(policy: GatePolicy, comparison: dict[str, Any]) -> list[Check]:
    if not policy.require_significant_improvement:
        return []
    m = comparison["mcnemar"]
    p = m["p_one_sided"]
    better = comparison["metrics"]["accuracy"]["newcombe"]["delta"] > 0
    significant = better and p < policy.alpha
    head = (
        f"candidate fixed {m['c']} and broke {m['b']} of {m['n']} paired cases: "
        f"one-sided {m.get('test', 'exact McNemar')} "
        f"p = {p:.4f}"
    )
    if significant:
        reason = f"{head}, below alpha {policy.alpha}"
    elif not better:
        reason = f"{head}: the candidate is not better than the baseline"
    else:
        reason = f"{head}, not below alpha {policy.alpha}"
    return [Check("require_significant_improvement", p, policy.alpha, significant, reason, op="<", n=m["n"])]


def baseline_checks(policy: GatePolicy | dict[str, Any], comparison: dict[str, Any]) -> list[Check]:
    """The policy's checks against the baseline (max_drop, require_significant_improvement),
    decided on `comparison` = compare(baseline, candidate): a pure function."""
    if not isinstance(policy, GatePolicy):
        policy = parse_policy(policy, where="gate policy")
    return _drops(policy, comparison) + _significance(policy, comparison)


# -- operating characteristics --


def _oc_inputs(comparison: dict[str, Any]) -> tuple[int, float, float]:
    """n, the share of discordant pairs and the baseline's accuracy, from compare's accuracy table."""
    newcombe = comparison["metrics"]["accuracy"]["newcombe"]
    table, n = newcombe["table"], newcombe["n"]
    return n, (table["only_a"] + table["only_b"]) / n, (table["both"] + table["only_a"]) / n


def _points(value: float) -> str:
    return f"{abs(value) * 100:.0f} points"


def operating_characteristics(policy: GatePolicy, comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    """The probability that the policy's paired accuracy checks (require_significant_improvement,
    max_drop.accuracy) approve a candidate whose true accuracy differs from the baseline's by
    minus the margin (at least WORSE_REFERENCE), 0, and the smallest detectable difference, at
    the run's n, share of discordant pairs and baseline accuracy. Exact for n up to
    stats.EXACT_OC_MAX_N (every 2x2 table), a seeded simulation beyond. None without a baseline."""
    from evalkit.stats import EXACT_OC_MAX_N, approval_probability, smallest_detectable_difference

    if comparison is None:
        return None
    margin = policy.max_drop.get("accuracy") if policy.max_drop else None
    alpha = policy.alpha if policy.require_significant_improvement else None
    n, psi, acc_a = _oc_inputs(comparison)
    sdd, sdd_reason = smallest_detectable_difference(n, psi, alpha=policy.alpha, power=POWER)
    result: dict[str, Any] = {
        "n": n,
        "p_discordant": psi,
        "baseline_accuracy": acc_a,
        "checks": [
            name
            for name, on in (
                ("require_significant_improvement", alpha is not None),
                (f"max_drop.accuracy (drop_on: {policy.drop_on})", margin is not None),
            )
            if on
        ],
        "smallest_detectable_difference": sdd,
        "power": POWER,
        "alpha": policy.alpha,
        "method": "exact, over every 2x2 table of n paired cases"
        if n <= EXACT_OC_MAX_N
        else "seeded simulation of 20,000 suites (seed 0)",
        "points": [],
    }
    if sdd_reason:
        result["smallest_detectable_difference_reason"] = sdd_reason
    if alpha is None and margin is None:
        result["sentence"] = (
            "no check of this policy is on the paired accuracy difference "
            "(require_significant_improvement, max_drop.accuracy): operating characteristics not computed"
        )
        return result
    worse = max(margin or 0.0, WORSE_REFERENCE)
    points = [("worse", -worse, f"a candidate {_points(worse)} worse"), ("equal", 0.0, "one as good")]
    if sdd is not None:
        points.append(("better", sdd, f"one {_points(sdd)} better (the smallest detectable difference)"))
    parts = []
    for key, delta, words in points:
        p = approval_probability(n, delta, psi, acc_a, alpha=alpha, margin=margin, drop_on=policy.drop_on)
        result["points"].append({"at": key, "delta": delta, "p_approve": p})
        parts.append(f"{words} with probability {p:.2f}")
    tail = "" if sdd is not None else f"; the smallest detectable difference {sdd_reason}"
    checks = " and ".join(result["checks"])
    result["sentence"] = (
        f"at n={n} with {psi:.0%} discordant pairs, this gate approves "
        + "; ".join(parts)
        + tail
        + f" (from {checks}; the other checks can only lower these probabilities)"
    )
    return result


# -- cost and latency --


def _ceilings(policy: GatePolicy, summary: dict[str, Any], model: str | None) -> list[Check]:
    checks = []
    if policy.max_cost_per_1k_usd is not None:
        ceiling, cost = policy.max_cost_per_1k_usd, summary["cost_usd"]
        if cost is None:
            checks.append(
                Check(
                    "max_cost_per_1k_usd",
                    None,
                    ceiling,
                    False,
                    f"cost unknown: no price for {model} (add one under pricing: in the suite) "
                    "or rows without token counts",
                    op="<=",
                )
            )
        else:
            passed = cost["per_1k"] <= ceiling + EPSILON
            checks.append(
                Check(
                    "max_cost_per_1k_usd",
                    cost["per_1k"],
                    ceiling,
                    passed,
                    f"${cost['per_1k']:.4f} per 1,000 cases {'within' if passed else 'above'} "
                    f"the ceiling ${ceiling:.4f}",
                    op="<=",
                )
            )
    if policy.max_latency_p95_ms is not None:
        ceiling, latency = policy.max_latency_p95_ms, summary["latency_ms"]
        if latency["p95"] is None:
            checks.append(
                Check(
                    "max_latency_p95_ms",
                    None,
                    ceiling,
                    False,
                    "no latency recorded (no row returned an output)",
                    op="<=",
                )
            )
        else:
            passed = latency["p95"] <= ceiling + EPSILON
            checks.append(
                Check(
                    "max_latency_p95_ms",
                    latency["p95"],
                    ceiling,
                    passed,
                    f"p95 latency {latency['p95']:.0f} ms over {latency['n']} rows "
                    f"{'within' if passed else 'above'} the ceiling {ceiling:.0f} ms",
                    op="<=",
                )
            )
    return checks


# -- the verdict --


def _validate_fields(policy: GatePolicy, fields: dict[str, Any]) -> None:
    """Every FIELD.METRIC key names a scored field of the suite and a metric of its type."""
    import difflib

    for section, keys in (("min", policy.min_fields), ("max_drop", policy.max_drop_fields)):
        for key in keys:
            field, _, metric = key.rpartition(".")
            if field not in fields:
                near = difflib.get_close_matches(field, list(fields), n=1)
                hint = (
                    f"did you mean {near[0]!r}?"
                    if near
                    else f"the suite scores {', '.join(fields) or 'no other field'}"
                )
                raise BadInput(f"gate policy: {section}.{key}: {field!r} is not a scored field ({hint})")
            known = [m.name for m in metrics_for(fields[field])]
            if metric not in known:
                near = difflib.get_close_matches(metric, known, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"its metrics: {', '.join(known)}"
                raise BadInput(
                    f"gate policy: {section}.{key}: {metric!r} is not a metric of the {fields[field].get('type')} "
                    f"field {field!r} ({hint})"
                )


def _validate_against_run(
    policy: GatePolicy, rows: list[dict[str, Any]], labels: list[str], needs_baseline: bool, has_baseline: bool
) -> None:
    if not policy.sets_checks():
        raise BadInput("the gate policy sets no checks (min, max_drop, error_budget, ...): nothing to approve against")
    unknown_labels = [label for label in policy.min_by_label if label not in labels]
    if unknown_labels:
        raise BadInput(
            f"gate policy: min_by_label.{unknown_labels[0]} is not a label of the suite ({', '.join(labels)})"
        )
    tags = sorted({t for r in rows for t in (r.get("tags") or [])})
    unknown_tags = [tag for tag in policy.min_by_tag if tag not in tags]
    if unknown_tags:
        raise BadInput(
            f"gate policy: min_by_tag.{unknown_tags[0]}: no case of the candidate carries this tag "
            f"(tags: {', '.join(tags) or 'none'})"
        )
    if needs_baseline and not has_baseline:
        raise BadInput(
            "the gate policy compares against a baseline (max_drop or require_significant_improvement) "
            "but none is set: add baseline: to the policy or pass --baseline"
        )


def evaluate_gate(
    policy: GatePolicy | dict[str, Any],
    candidate_run: Run,
    route: str | None = None,
    baseline: tuple[Run, str] | None = None,
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
    allow_unverified: bool = False,
) -> Verdict:
    """Check `route` of `candidate_run` against the policy (and the baseline, when there is one).

    `route` defaults to the policy's `candidate`; `baseline` to the policy's `baseline`
    route in the candidate's run. The comparison, when made, is exactly `compare(baseline, candidate)`.
    Both routes must be answered by their configured models (evalkit.provenance); with
    `allow_unverified` the policy decides anyway and the verdict says NOT EVIDENCE.
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
    needs_baseline = bool(
        policy.require_significant_improvement
        or policy.max_drop_fields
        or (policy.max_drop and policy.max_drop.model_dump(exclude_none=True))
    )
    _validate_against_run(policy, rows, labels, needs_baseline, baseline is not None)
    fields = candidate_run.fields
    _validate_fields(policy, fields)
    grades = {case_id: case["grades"] for case_id, case in candidate_run.cases.items() if case.get("grades")}
    summary = summarize_route(rows, labels, seed=seed, n_boot=n_boot, fields=fields, grades=grades)

    checks = _completeness(candidate_run, rows, "candidate", policy.error_budget)
    evidence, provenance = _evidence(candidate_run, route, "candidate")
    checks.append(evidence)
    provenance = {"candidate": provenance}
    comparison = None
    if baseline is not None:
        base_run, base_route = baseline
        evidence, provenance["baseline"] = _evidence(base_run, base_route, "baseline")
        checks.append(evidence)
        base_rows = base_run.route_rows(base_route)
        if base_run.dir == candidate_run.dir:
            checks += [
                c
                for c in _completeness(base_run, base_rows, "baseline", policy.error_budget)
                if c.name.startswith("error_budget")
            ]
        else:
            checks += _completeness(base_run, base_rows, "baseline", policy.error_budget)
        comparison = compare(base_run, base_route, candidate_run, route, seed=seed, n_boot=n_boot)
    checks += _floors(policy, summary, rows, labels, seed=seed, n_boot=n_boot)
    checks += _judges(policy, summary, fields)
    if comparison is not None:
        checks += baseline_checks(policy, comparison)
    model = route_models(candidate_run.manifest["routes"][route]).ran_as
    checks += _ceilings(policy, summary, model)
    return Verdict(
        candidate=f"{candidate_run.dir}:{route}",
        baseline=f"{baseline[0].dir}:{baseline[1]}" if baseline else None,
        checks=checks,
        policy=policy.model_dump(mode="json", exclude_none=True),
        comparison=comparison,
        provenance=provenance,
        allow_unverified=allow_unverified,
        operating_characteristics=operating_characteristics(policy, comparison),
    )
