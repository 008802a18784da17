"""Charts for the packet: matplotlib (Agg) figures rendered to inline SVG strings.

Every chart draws figures it is given (from summary.json and compare); none computes a
metric. The SVG is stripped of its XML prologue, DOCTYPE, metadata and namespace URLs so
it can sit inside HTML with no reference to anything outside the file. matplotlib is
imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

INK, MUTED, GRID = "#1f2933", "#52606d", "#e4e7eb"
BASELINE_COLOUR, CANDIDATE_COLOUR, OTHER_COLOURS = "#8794a8", "#1f6feb", ["#c08a2c", "#6f42c1", "#2f9e8f", "#d6336c"]
SPECIAL_COLUMNS = ("__unparsed__", "__error__")


def _pyplot(salt: str):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: small, selectable, styled by the page's fonts
            "svg.hashsalt": salt,  # deterministic, chart-specific ids: two charts in one page never clash
            "text.parse_math": False,  # a label with $ signs is text, not mathtext
            "font.family": "sans-serif",
            "font.size": 9,
            "axes.edgecolor": GRID,
            "axes.labelcolor": MUTED,
            "xtick.color": MUTED,
            "ytick.color": MUTED,
            "text.color": INK,
        }
    )
    return plt


_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def to_svg(fig, title: str) -> str:
    """The figure as an inline <svg> element with an accessible title; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = _NAMESPACES.sub("", _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue())))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)
    svg = re.sub(r'(<svg[^>]*?)\s(width|height)="[^"]*"', r"\1", svg, count=2)  # sized by CSS through the viewBox
    return svg.strip()


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def route_colours(names: list[str], baseline: str, candidate: str) -> dict[str, str]:
    others = itertools.cycle(OTHER_COLOURS)
    return {
        n: BASELINE_COLOUR if n == baseline else CANDIDATE_COLOUR if n == candidate else next(others) for n in names
    }


def headline_chart(routes: list[dict[str, Any]], colours: dict[str, str]) -> str:
    """The charted headline metrics (evalkit.headline: accuracy and macro-F1) of every route with
    their 95% intervals, as dots with error bars."""
    from evalkit.headline import HEADLINE

    plt = _pyplot("headline")
    charted = [m for m in HEADLINE.values() if m.chart]
    metrics = [(m.name, m.title) for m in charted]
    fig, axes = plt.subplots(1, len(metrics), figsize=(11, 0.36 * len(routes) + 0.9), sharey=True, squeeze=False)
    names = [r["name"] for r in routes]
    for ax, metric, (key, title) in zip(axes[0], charted, metrics):
        for y, route in enumerate(routes):
            entry = route["summary"][key]
            if entry.get("value") is None:
                ax.text(0.01, y, "n/a", va="center", color=MUTED)
                continue
            value, ci = entry["value"], entry.get("ci95")
            if ci:
                ax.plot(ci, [y, y], color=colours[route["name"]], lw=2.2, alpha=0.45, solid_capstyle="round")
            ax.plot([value], [y], "o", color=colours[route["name"]], ms=7)
            ax.text(value, y - 0.32, f"{value:.2f}", ha="center", va="bottom", fontsize=8, color=INK)
        ax.set_title(title, loc="left", fontsize=10, color=INK)
        low, high = metric.bounds
        ax.set_xlim(low - 0.02 * (high - low), high + 0.02 * (high - low))
        ax.set_ylim(len(routes) - 0.5, -0.7)
        ax.set_yticks(range(len(routes)), names)
        ax.grid(axis="x", color=GRID, lw=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(length=0)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    fig.tight_layout(w_pad=2.5)
    return to_svg(fig, f"{' and '.join(title for _, title in metrics)} per route with 95% intervals")


#: above this many labels a confusion heatmap shows only the labels with the most confusions
MAX_HEATMAP_LABELS = 24


def focus_labels(confusions: list[dict[str, Any]], limit: int = MAX_HEATMAP_LABELS) -> list[str]:
    """The labels a heatmap shows: all of them up to `limit`, else, in suite order, the labels of
    the largest off-diagonal cells of the given matrices (both labels of a pair, or the expected
    label of an unparsed or error cell), largest first, until `limit` are chosen."""
    labels = confusions[0]["labels"]
    if len(labels) <= limit:
        return list(labels)
    cells = sorted(
        (
            (count, expected, predicted)
            for confusion in confusions
            for expected, row in zip(confusion["labels"], confusion["matrix"])
            for predicted, count in zip(confusion["columns"], row)
            if count and expected != predicted
        ),
        key=lambda cell: -cell[0],
    )
    kept: dict[str, None] = {}
    for _, expected, predicted in cells:
        for label in (expected, predicted):
            if label in labels and len(kept) < limit:
                kept.setdefault(label)
        if len(kept) >= limit:
            break
    return [label for label in labels if label in kept]


def _restricted(confusion: dict[str, Any], keep: list[str]) -> dict[str, Any]:
    rows = [confusion["labels"].index(label) for label in keep]
    columns = [j for j, c in enumerate(confusion["columns"]) if c in keep or c in SPECIAL_COLUMNS]
    return {
        "labels": keep,
        "columns": [confusion["columns"][j] for j in columns],
        "matrix": [[confusion["matrix"][i][j] for j in columns] for i in rows],
    }


def confusion_chart(
    confusion: dict[str, Any], title: str, *, peak: float | None = None, keep: list[str] | None = None
) -> str:
    """One route's confusion matrix as an annotated heatmap, unparsed and error columns set apart.

    `peak` fixes the top of the colour scale, so two matrices drawn side by side share one scale;
    `keep` draws only those labels' rows and columns (the unparsed and error columns stay)."""
    import numpy as np

    if keep is not None and keep != confusion["labels"]:
        confusion = _restricted(confusion, keep)
    plt = _pyplot(f"confusion-{title}")
    labels, columns = confusion["labels"], confusion["columns"]
    matrix = np.asarray(confusion["matrix"], dtype=float)
    peak = peak or (matrix.max() if matrix.size and matrix.max() > 0 else 1.0)
    fig, ax = plt.subplots(figsize=(0.26 * len(columns) + 1.5, 0.26 * len(labels) + 1.3))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=peak, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            count = int(matrix[i, j])
            if count:
                ax.text(
                    j,
                    i,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if count > 0.55 * peak else INK,
                    fontweight="bold" if labels[i] == columns[j] else "normal",
                )
    shown = [{"__unparsed__": "unparsed", "__error__": "error"}.get(c, c) for c in columns]
    ax.set_xticks(range(len(columns)), shown, rotation=55, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for j, column in enumerate(columns):
        if column in SPECIAL_COLUMNS:
            ax.get_xticklabels()[j].set_color("#b42318")
    first_special = next((j for j, c in enumerate(columns) if c in SPECIAL_COLUMNS), None)
    if first_special is not None:
        ax.axvline(first_special - 0.5, color="#b42318", lw=1.0, ls="--")
    ax.set_xticks(np.arange(-0.5, len(columns), 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(labels), 1), minor=True)
    ax.grid(which="minor", color="white", lw=1.0)
    ax.tick_params(which="both", length=0)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("expected", fontsize=8)
    ax.set_title(title, loc="left", fontsize=9.5, color=INK, fontweight="bold")
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return to_svg(fig, f"Confusion matrix: {title}")


def tag_chart(tags: list[dict[str, Any]], names: list[str], colours: dict[str, str]) -> str:
    """Accuracy per tag for every route: one row per tag, one dot per route, worst tags first."""
    plt = _pyplot("tags")
    fig, ax = plt.subplots(figsize=(11, 0.3 * len(tags) + 0.9))
    for y, tag in enumerate(tags):
        values = [(tag["routes"].get(name) or {}).get("accuracy") for name in names]
        present = [v for v in values if v is not None]
        if present:
            ax.plot([min(present), max(present)], [y, y], color=GRID, lw=3, solid_capstyle="round", zorder=1)
        for k, (name, value) in enumerate(zip(names, values)):
            if value is not None:  # routes sit slightly apart so equal values stay visible
                ax.plot(
                    [value],
                    [y + (k - (len(names) - 1) / 2) * 0.14],
                    "o",
                    color=colours[name],
                    ms=6.5,
                    zorder=2,
                    label=name if y == 0 else None,
                    markeredgecolor="white",
                    markeredgewidth=0.8,
                )
    ax.set_yticks(range(len(tags)), [f"{t['tag']} (n={t['n']})" for t in tags])
    ax.set_ylim(len(tags) - 0.5, -0.7)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("accuracy on the cases with the tag")
    ax.grid(axis="x", color=GRID, lw=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.legend(
        loc="lower right", frameon=False, fontsize=8, ncol=len(names), bbox_to_anchor=(1.0, 1.0), handletextpad=0.2
    )
    fig.tight_layout()
    return to_svg(fig, "Accuracy per tag and route")
