"""packet.md: the packet dict as Markdown for a wiki or a pull request.

Markdown passes raw HTML through, so every text that did not come from evalkit (model
outputs, case inputs, labels, suite text) goes through `md_text`: `&`, `<`, `>` and the
braces become entities, Markdown's punctuation (backticks, pipes, brackets, emphasis,
dollar signs) is backslash-escaped, and line breaks become `<br>`. A model's `<script>` shows as text,
its `{{ }}` shows as written and no template engine downstream (Jinja, Liquid) sees a tag.
The template is rendered with autoescape off because it escapes for Markdown, not HTML.
"""

from __future__ import annotations

import re
from typing import Any

PREVIEW_CHARS = 160


def md_text(value: Any) -> str:
    """Any text as inert inline Markdown (safe in a paragraph or a table cell)."""
    if value is None:
        return ""
    text = re.sub(r"([\\`*_\[\]|#~!$])", r"\\\1", str(value).strip())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("{", "&#123;").replace("}", "&#125;")  # no {{ or {% left for Jinja or Liquid
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def md_preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """The first `limit` characters, escaped, with an ellipsis when cut."""
    if value is None:
        return ""
    text = str(value)
    return md_text(text[:limit]) + ("…" if len(text) > limit else "")


def render_markdown(packet: dict[str, Any]) -> str:
    from evalkit.report.format import signed, usd
    from evalkit.report.html import environment

    env = environment(autoescape=False)
    # GitHub reads $...$ as math: evalkit's own dollar amounts are escaped too
    env.filters.update(
        md=md_text,
        preview=md_preview,
        usd=lambda v: usd(v).replace("$", "\\$"),
        signed=lambda v, unit="", digits=3: signed(v, unit, digits).replace("$", "\\$"),
    )
    by_name = {r["name"]: r for r in packet["routes"]}
    return env.get_template("packet.md.j2").render(p=packet, by_name=by_name, preview_chars=PREVIEW_CHARS)
