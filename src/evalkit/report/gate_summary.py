"""Render a gate verdict: one terminal line per check, and Markdown for a pull request.

The Markdown suits `$GITHUB_STEP_SUMMARY` and a PR comment. Formatting only: every
number comes from the verdict (evalkit.gate).
"""

from __future__ import annotations

from evalkit.gate import Check, Verdict
from evalkit.provenance import describe

HEADLINES = {"approve": "APPROVE", "reject": "REJECT", "incomplete": "INCOMPLETE"}
BADGES = {"approve": "✅ approve", "reject": "❌ reject", "incomplete": "⚠️ incomplete run"}


def value_text(check: Check, value: float | None) -> str:
    if value is None:
        return "n/a" if check.threshold is not None else "-"
    if check.name.startswith("max_cost"):
        return f"${value:.4f}"
    if check.name.startswith("max_latency"):
        return f"{value:.0f} ms"
    if check.name.startswith("error_budget"):
        return f"{value:.1%}"
    if check.name == "require_significant_improvement":
        return f"{value:.4f}"
    return f"{value:.3f}"


def threshold_text(check: Check) -> str:
    return "" if check.threshold is None else f"{check.op} {value_text(check, check.threshold)}"


RESULTS = {"pass": "PASS", "fail": "FAIL", "undecided": "UNDECIDED", "too few cases": "TOO FEW CASES"}
MARKS = {"PASS": "✅ ", "FAIL": "❌ ", "UNDECIDED": "⚠️ ", "TOO FEW CASES": "⚠️ ", "NOT EVIDENCE": "⚠️ "}


def result_text(check: Check, verdict: Verdict) -> str:
    if check.category == "evidence" and not check.passed and verdict.allow_unverified:
        return "NOT EVIDENCE"
    return RESULTS.get(check.status or "", "PASS" if check.passed else "FAIL")


def check_rows(verdict: Verdict) -> list[list[str]]:
    return [
        [c.name, value_text(c, c.value), threshold_text(c), result_text(c, verdict), c.reason] for c in verdict.checks
    ]


CHECK_HEADERS = ["check", "value", "threshold", "result", "reason"]


def verdict_line(verdict: Verdict) -> str:
    failed = verdict.blocking
    total = len(verdict.checks)
    if not failed:
        undecided = len(verdict.undecided)
        passed = (
            f"all {total} checks passed"
            if not verdict.not_evidence
            else "the policy's checks passed on answers that are not evidence"
        )
        detail = passed + (f" ({undecided} undecided: warnings)" if undecided else "")
    else:
        detail = f"{len(failed)} of {total} checks failed: {', '.join(c.name for c in failed)}"
    notice = f" [{verdict.evidence_notice()}]" if verdict.not_evidence else ""
    return f"verdict: {HEADLINES[verdict.decision]}: {detail} (exit {verdict.exit_code}){notice}"


def provenance_lines(verdict: Verdict) -> list[str]:
    """Where each judged route's answers came from, and the endpoint they came through."""
    return [f"{role}: {info['route']} answers are {describe(info)}" for role, info in verdict.provenance.items()]


def render_text(verdict: Verdict) -> str:
    """The terminal view of `evalkit gate`: one line per check, then the verdict."""
    from tabulate import tabulate

    head = [f"candidate: {verdict.candidate}"]
    if verdict.baseline:
        head.append(f"baseline:  {verdict.baseline}")
    head += ["", *provenance_lines(verdict)]
    if verdict.not_evidence:
        head += ["", verdict.evidence_notice() or ""]
    body = tabulate(check_rows(verdict), headers=CHECK_HEADERS, tablefmt="plain", disable_numparse=True)
    warnings = (verdict.comparison or {}).get("warnings") or []
    tail = ["", "warnings (A = baseline, B = candidate):", *(f"  - {w}" for w in warnings)] if warnings else []
    if verdict.undecided:
        tail += [
            "",
            "undecided floors (warnings, not rejections):",
            *(f"  - {c.name}: {c.reason}" for c in verdict.undecided),
        ]
    oc = operating_line(verdict)
    if oc:
        tail += ["", f"operating characteristics: {oc}"]
    return "\n".join([*head, "", body, *tail, "", verdict_line(verdict)]) + "\n"


def operating_line(verdict: Verdict) -> str | None:
    """The gate's own error rates in one sentence, with how they were computed."""
    oc = verdict.operating_characteristics
    if not oc:
        return None
    return f"{oc['sentence']}; {oc['method']}"


def render_markdown(verdict: Verdict) -> str:
    """The Markdown summary: the verdict, a table of checks, and the comparison folded away."""
    from evalkit.report.comparison import render_markdown as comparison_markdown
    from evalkit.report.markdown import table

    badge = BADGES[verdict.decision] + (" — NOT EVIDENCE" if verdict.not_evidence else "")
    out = [f"## evalkit gate: {badge}", ""]
    if verdict.not_evidence:
        out += [
            f"> **{verdict.evidence_notice()}.** "
            + ("The policy was evaluated anyway (--allow-unverified)." if verdict.allow_unverified
               else "The gate approves only on answers of the configured models."),
            "",
        ]
    against = f" against baseline `{verdict.baseline}`" if verdict.baseline else ""
    out += [f"Candidate `{verdict.candidate}`{against}. {verdict_line(verdict)[len('verdict: ') :]}.", ""]
    out += [*(f"- {line}" for line in provenance_lines(verdict)), ""]
    out += [
        table(CHECK_HEADERS, [[*row[:3], MARKS.get(row[3], "") + row[3], row[4]] for row in check_rows(verdict)]),
        "",
    ]
    if verdict.undecided:
        out += [
            "Undecided floors (warnings, not rejections): "
            + "; ".join(f"`{c.name}` ({c.status})" for c in verdict.undecided)
            + ".",
            "",
        ]
    oc = operating_line(verdict)
    if oc:
        out += [f"**Operating characteristics.** {oc[0].upper() + oc[1:]}.", ""]
    if verdict.comparison is not None:
        out += [
            "<details><summary>Comparison with the baseline</summary>",
            "",
            comparison_markdown(verdict.comparison),
            "</details>",
            "",
        ]
    return "\n".join(out) + "\n"
