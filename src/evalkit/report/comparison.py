"""Render a comparison (the dict `evalkit.compare.compare` returns) for the terminal and Markdown.

Formatting only: every number comes from the comparison.
"""

from __future__ import annotations

from typing import Any

from evalkit.headline import label_of
from evalkit.provenance import describe
from evalkit.report.format import interval, num, signed, usd


def metric_rows(comparison: dict[str, Any]) -> list[list[str]]:
    rows = []
    for metric, entry in comparison["metrics"].items():
        note = entry.get("reason", "")
        rows.append(
            [
                label_of(metric),
                num(entry["a"]),
                num(entry["b"]),
                signed(entry["delta"]),
                interval(entry["ci95"], 3) or "n/a",
                str(entry["n"]),
                note,
            ]
        )
        if "newcombe" in entry:
            newcombe = entry["newcombe"]
            rows.append(
                [
                    "accuracy (Newcombe)",
                    "",
                    "",
                    signed(newcombe["delta"]),
                    interval(newcombe["ci95"], 3) or "n/a",
                    str(newcombe["n"]),
                    newcombe["on"]
                    if comparison.get("repeats", {}).get("a", 1) > 1 or comparison.get("repeats", {}).get("b", 1) > 1
                    else "",
                ]
            )
    return rows


METRIC_HEADERS = ["metric", "A", "B", "B - A", "95% CI", "n", "note"]


def mcnemar_line(comparison: dict[str, Any]) -> str:
    m = comparison["mcnemar"]
    line = (
        f"McNemar on correctness: b={m['b']} (A better), c={m['c']} (B better), "
        f"p exact={m['p_exact']:.4f}, mid-p={m['p_midp']:.4f}"
    )
    if "p_one_sided" in m:
        line += f", one-sided p (B better)={m['p_one_sided']:.4f}"
    line += f", n={m['n']}"
    vote = (comparison.get("self_consistency") or {}).get("mcnemar")
    if vote:
        line += (
            f"; self-consistency (majority vote, reported apart): b={vote['b']}, c={vote['c']}, "
            f"p exact={vote['p_exact']:.4f}"
        )
    return line


def _ids(ids: list[str], limit: int = 20) -> str:
    if not ids:
        return "none"
    return ", ".join(ids[:limit]) + (f" (+{len(ids) - limit} more)" if len(ids) > limit else "")


def flip_lines(comparison: dict[str, Any]) -> list[str]:
    flips = comparison["flips"]
    return [
        f"fixed by B ({len(flips['fixed'])}): {_ids(flips['fixed'])}",
        f"broken by B ({len(flips['broken'])}): {_ids(flips['broken'])}",
    ]


def per_class_rows(comparison: dict[str, Any]) -> list[list[str]]:
    return [
        [label, num(e["a"]), num(e["b"]), signed(e["delta"]), str(e["support"])]
        for label, e in comparison["per_class"].items()
    ]


def shift_rows(comparison: dict[str, Any], limit: int = 8) -> list[list[str]]:
    return [
        [s["expected"], s["predicted"], str(s["a"]), str(s["b"]), f"{s['delta']:+d}"]
        for s in comparison["confusion_shifts"][:limit]
    ]


def tag_rows(comparison: dict[str, Any]) -> list[list[str]]:
    return [
        [
            tag,
            str(t["n"]),
            num(t["accuracy"]["a"]),
            num(t["accuracy"]["b"]),
            signed(t["accuracy"]["delta"]),
            str(t["fixed"]),
            str(t["broken"]),
        ]
        for tag, t in comparison["by_tag"].items()
    ]


def cost_rows(comparison: dict[str, Any]) -> list[list[str]]:
    lat, tok, cost = comparison["latency_ms"], comparison["tokens"], comparison["cost_usd"]
    return [
        ["latency p50 (ms)", num(lat["p50"]["a"], 0), num(lat["p50"]["b"], 0), signed(lat["p50"]["delta"], digits=0)],
        ["latency p95 (ms)", num(lat["p95"]["a"], 0), num(lat["p95"]["b"], 0), signed(lat["p95"]["delta"], digits=0)],
        [
            "input tokens (mean)",
            num(tok["input_mean"]["a"], 0),
            num(tok["input_mean"]["b"], 0),
            signed(tok["input_mean"]["delta"], digits=0),
        ],
        [
            "output tokens (mean)",
            num(tok["output_mean"]["a"], 0),
            num(tok["output_mean"]["b"], 0),
            signed(tok["output_mean"]["delta"], digits=0),
        ],
        [
            "cost per 1,000 cases",
            usd(cost["per_1k"]["a"]),
            usd(cost["per_1k"]["b"]),
            signed(cost["per_1k"]["delta"], "usd"),
        ],
    ]


def provenance_lines(comparison: dict[str, Any]) -> list[str]:
    """Where each side's answers came from (comparisons made before provenance was kept have none)."""
    found = comparison.get("provenance") or {}
    return [f"{side.upper()} answers: {describe(found[side])}" for side in ("a", "b") if side in found]


def render_text(comparison: dict[str, Any]) -> str:
    """The terminal view of `evalkit compare`."""
    from tabulate import tabulate

    out = [
        f"A: {comparison['a']}",
        f"B: {comparison['b']}",
        *provenance_lines(comparison),
        f"paired cases: {comparison['n_paired']}",
        "",
    ]
    out += [tabulate(metric_rows(comparison), headers=METRIC_HEADERS, tablefmt="simple", disable_numparse=True), ""]
    out += [mcnemar_line(comparison), *flip_lines(comparison), ""]
    out += [
        tabulate(
            per_class_rows(comparison),
            headers=["label", "F1 A", "F1 B", "B - A", "support"],
            tablefmt="simple",
            disable_numparse=True,
        ),
        "",
    ]
    if comparison["confusion_shifts"]:
        out += [
            "confusion pairs that changed most (row counts):",
            tabulate(
                shift_rows(comparison),
                headers=["expected", "predicted", "A", "B", "B - A"],
                tablefmt="simple",
                disable_numparse=True,
            ),
            "",
        ]
    if comparison["by_tag"]:
        out += [
            tabulate(
                tag_rows(comparison),
                headers=["tag", "n", "acc A", "acc B", "B - A", "fixed", "broken"],
                tablefmt="simple",
                disable_numparse=True,
            ),
            "",
        ]
    out += [tabulate(cost_rows(comparison), headers=["", "A", "B", "B - A"], tablefmt="simple", disable_numparse=True)]
    if comparison["warnings"]:
        out += ["", "warnings:", *(f"  - {w}" for w in comparison["warnings"])]
    return "\n".join(out) + "\n"


def render_markdown(comparison: dict[str, Any]) -> str:
    """A compact Markdown view (used inside the gate summary)."""
    from evalkit.report.markdown import table

    out = [
        f"Baseline (A) `{comparison['a']}`, candidate (B) `{comparison['b']}`, {comparison['n_paired']} paired cases.",
        "",
    ]
    out += [f"* {line}" for line in provenance_lines(comparison)] + [""]
    out += [table(METRIC_HEADERS, metric_rows(comparison)), ""]
    out += [mcnemar_line(comparison) + ".", ""]
    out += [f"* {line}" for line in flip_lines(comparison)] + [""]
    if comparison["by_tag"]:
        out += [table(["tag", "n", "acc A", "acc B", "B - A", "fixed", "broken"], tag_rows(comparison)), ""]
    out += [table(["", "A", "B", "B - A"], cost_rows(comparison)), ""]
    if comparison["warnings"]:
        out += ["**Warnings**", "", *(f"* {w}" for w in comparison["warnings"]), ""]
    return "\n".join(out)
