"""Every number as people read it: decimals, intervals, percentages, differences, money,
durations and counts, for the terminal, report.md, comparisons, gate.md and the packet (whose
templates use these as Jinja filters). One place, so a figure reads the same everywhere."""

from __future__ import annotations

from typing import Any


def num(value: float | None, digits: int = 3) -> str:
    """A decimal: `0.870`."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(ci: list[float] | None, digits: int = 2) -> str:
    """An interval in brackets, for tables: `[0.74, 0.94]`."""
    return "" if not ci else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def interval_text(ci: list[float] | None, unit: str = "", digits: int = 2) -> str:
    """An interval in words, for the packet: `0.74 to 0.94`, `74–94%` (unit "pct"), `+1.0 to +9.0 pts`."""
    if not ci:
        return ""
    if unit == "pct":
        return f"{ci[0] * 100:.0f}–{ci[1] * 100:.0f}%"
    if unit == "pts":
        return f"{ci[0] * 100:+.1f} to {ci[1] * 100:+.1f} pts"
    return f"{ci[0]:.{digits}f} to {ci[1]:.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A proportion as a percentage: `87.0%`."""
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def pts(value: float | None) -> str:
    """A difference of proportions in percentage points, unsigned."""
    return "n/a" if value is None else f"{value * 100:.1f} pts"


def signed(value: float | None, unit: str = "", digits: int = 3) -> str:
    """A difference with its sign: `+0.052`; `unit` "pts" (a proportion's change in percentage
    points), "ms", "tokens" or "usd"."""
    if value is None:
        return "n/a"
    if unit == "pts":
        return f"{value * 100:+.1f} pts"
    if unit == "ms":
        return f"{value:+,.0f} ms"
    if unit == "tokens":
        return f"{value:+,.0f}"
    if unit == "usd":
        return ("+" if value >= 0 else "−") + usd(abs(value))
    return f"{value:+.{digits}f}"


def pvalue(value: float | None) -> str:
    return "n/a" if value is None else "< 0.001" if value < 0.001 else f"{value:.3f}"


def usd(value: float | None) -> str:
    """Money: four decimals under a dollar (`$0.0123`), cents above (`$12.35`); None is unknown."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0.00"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def ms(value: float | None) -> str:
    """A duration in milliseconds: `1,234 ms`."""
    return "n/a" if value is None else f"{value:,.0f} ms"


def count(value: float | None) -> str:
    """A whole count with thousands separators: `12,320`."""
    return "n/a" if value is None else f"{value:,.0f}"


def metric(entry: dict[str, Any] | None) -> str:
    """`0.870 [0.74, 0.94] n=46`, or the reason a value is missing."""
    if not entry:
        return "n/a"
    if entry.get("value") is None:
        return f"n/a ({entry['reason']})" if entry.get("reason") else "n/a"
    ci = interval(entry.get("ci95"))
    return f"{entry['value']:.3f} {ci} n={entry['n']}".replace("  ", " ")


def route_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One line per route: the headline figures of a summary."""
    from evalkit.headline import HEADLINE

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
                usd((s["cost_usd"] or {}).get("per_1k")),
                str(s["errors"]),
            ]
        )
    return rows


def route_headers() -> list[str]:
    """The column headings of `route_rows`."""
    from evalkit.headline import HEADLINE

    return ["route", "n", *(m.label for m in HEADLINE.values()), "p50", "p95", "tokens in", "tokens out", "cost/1k",
            "errors"]
