"""Small formatters shared by the terminal, Markdown and HTML renderers."""

from __future__ import annotations

from typing import Any

from evalkit.headline import HEADLINE


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(ci: list[float] | None, digits: int = 2) -> str:
    return "" if not ci else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def metric(entry: dict[str, Any] | None) -> str:
    """`0.870 [0.74, 0.94] n=46`, or the reason a value is missing."""
    if not entry:
        return "n/a"
    if entry.get("value") is None:
        return f"n/a ({entry['reason']})" if entry.get("reason") else "n/a"
    ci = interval(entry.get("ci95"))
    return f"{entry['value']:.3f} {ci} n={entry['n']}".replace("  ", " ")


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def route_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One line per route: the headline figures of a summary."""
    rows = []
    for route, s in summary["routes"].items():
        rows.append(
            [
                route,
                str(s["n"]),
                *(metric(s.get(name)) for name in HEADLINE),
                ms(s["latency_ms"]["p50"]),
                ms(s["latency_ms"]["p95"]),
                num(s["tokens"]["input_mean"], 0),
                num(s["tokens"]["output_mean"], 0),
                money((s["cost_usd"] or {}).get("per_1k")),
                str(s["errors"]),
            ]
        )
    return rows


def route_headers() -> list[str]:
    """The column headings of `route_rows`."""
    return ["route", "n", *(m.label for m in HEADLINE.values()), "p50", "p95", "tokens in", "tokens out", "cost/1k",
            "errors"]
