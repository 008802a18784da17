"""packet.html: the packet dict rendered through a Jinja2 template with autoescape on.

Every string that reaches the page (model outputs, case inputs, labels, suite text) is
escaped by Jinja2; only the SVG charts that `charts` draws are marked safe. The page
carries its styles and charts inline, refers to nothing outside itself, and forbids
scripts and remote loads with a Content-Security-Policy. Formatting filters are shared
with the Markdown renderer; none of them computes a figure.
"""

from __future__ import annotations

from typing import Any

from evalkit.headline import HEADLINE
from evalkit.report import format as fmt

FOLD_CHARS = 360  # longer texts show a preview and fold the rest into <details>


def column(name: str) -> str:
    return {"__unparsed__": "unparsed", "__error__": "error"}.get(name, name)


def as_text(value: Any) -> str:
    """An expected answer or an output object as readable text (JSON for objects)."""
    import json

    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


FILTERS = {
    "pct": fmt.pct,
    "dec": fmt.num,
    "signed": fmt.signed,
    "pts": fmt.pts,
    "interval": fmt.interval_text,
    "pvalue": fmt.pvalue,
    "usd": fmt.usd,
    "ms": fmt.ms,
    "count": fmt.count,
    "column": column,
    "as_text": as_text,
}


def environment(autoescape: bool):
    """A Jinja2 environment over the packet templates; autoescape must be on for HTML."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("evalkit.report", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals["headline"] = list(HEADLINE.values())  # the headline metrics, in order (evalkit.headline)
    return env


def charts_for(packet: dict[str, Any]) -> dict[str, Any]:
    """The packet's charts as inline SVG strings, drawn from figures already in the packet."""
    from evalkit.report import charts

    routes = packet["routes"]
    names = [r["name"] for r in routes]
    colours = charts.route_colours(names, packet["baseline"], packet["candidate"])
    by_name = {r["name"]: r for r in routes}
    pair = [by_name[packet["baseline"]]["summary"]["confusion"], by_name[packet["candidate"]]["summary"]["confusion"]]
    peak = max((max(row) for conf in pair for row in conf["matrix"] if row), default=0) or None
    keep = charts.focus_labels(pair)
    result = {
        "headline": charts.headline_chart(routes, colours),
        "confusion_baseline": charts.confusion_chart(pair[0], f"baseline: {packet['baseline']}", peak=peak, keep=keep),
        "confusion_candidate": charts.confusion_chart(
            pair[1], f"candidate: {packet['candidate']}", peak=peak, keep=keep
        ),
        "confusion_shown": len(keep),
        "confusion_labels": len(pair[0]["labels"]),
    }
    tags = packet["failures"]["by_tag"]
    if tags:
        result["tags"] = charts.tag_chart(tags, names, colours)
    result["colours"] = colours
    return result


def render_html(packet: dict[str, Any]) -> str:
    from markupsafe import Markup

    drawn = charts_for(packet)
    colours = drawn.pop("colours")
    svg = {
        name: Markup(text) if isinstance(text, str) else text  # drawn by matplotlib from numbers and suite labels
        for name, text in drawn.items()
    }
    by_name = {r["name"]: r for r in packet["routes"]}
    return (
        environment(autoescape=True)
        .get_template("packet.html.j2")
        .render(p=packet, charts=svg, colours=colours, by_name=by_name, fold_chars=FOLD_CHARS)
    )
