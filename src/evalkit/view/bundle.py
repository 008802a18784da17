"""`evalkit view --bundle OUT_DIR RUN_DIR ...`: the viewer as static files, for CI artifacts.

One `index.html` holds the page, its script and style, and every view's data as JSON in a
`<script type="application/json">` block, so it opens from `file://` with no server and no
network. Given one run it opens on that run's grid, with every case in the page.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.view import data as views


def write_bundle(out_dir: str | Path, paths: list[str | Path]) -> Path:
    from evalkit.errors import BadInput
    from evalkit.view.app import _clean, page_html

    catalog = views.Catalog(paths)
    everything = views.everything(catalog)
    runs = everything["runs"]["runs"]
    if not runs:
        raise BadInput("no run directory found (a run directory holds manifest.json)", where=", ".join(map(str, paths)))
    if len(runs) == 1:
        everything["start"] = runs[0]["id"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(page_html(_clean(everything), inline=True), encoding="utf-8")
    tmp.replace(index)
    return index
