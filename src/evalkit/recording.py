"""`evalkit record`: keep what a replay needs of a run, as a recording to commit.

A recording line is a result row cut down to the answer (output or error, the model the server
reported, tokens, latency) and its evidence: the request fingerprint and part hashes
(evalkit.fingerprint) and where the answer came from (evalkit.provenance). Replaying it for an
unchanged suite gives `recorded` answers, which the gate accepts; replaying it after a prompt,
model or example changed names the routes and parts that went stale. Lines are sorted by
route, case and repeat, so re-recording shows as a readable diff.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput

#: the fields of a result row that a recording keeps (evalkit.providers.replay reads them)
RECORDING_FIELDS = (
    "case_id",
    "route",
    "repeat",
    "output",
    "error",
    "model",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "latency_ms",
    "request_sha256",
    "request_parts",
    "provenance",
    "stale_parts",
    "endpoint",
)


def recording_lines(rows: list[dict[str, Any]], endpoints: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """The recording of these rows: each row's RECORDING_FIELDS that are set (with the endpoint
    its route called, from `endpoints`, when the row has none), in a stable order."""
    kept = []
    for row in rows:
        line = {k: row[k] for k in RECORDING_FIELDS if row.get(k) is not None}
        if "endpoint" not in line and (endpoints or {}).get(row["route"]):
            line["endpoint"] = (endpoints or {})[row["route"]]
        kept.append(line)
    return sorted(kept, key=lambda line: (line["route"], line["case_id"], line.get("repeat", 0)))


def record_run(run_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the recording of a stored run to `out`; return {lines, errors, provenance by route}."""
    from evalkit.provenance import of_row
    from evalkit.store import load_run

    run = load_run(run_dir)
    if not run.rows:
        raise BadInput("the run has no result rows to record", where=str(run.dir))
    lines = recording_lines(run.rows, {route: info.get("endpoint") for route, info in run.manifest["routes"].items()})
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write the recording: {exc.strerror}", where=str(out)) from None
    provenance: dict[str, Counter[str]] = {}
    for row in run.rows:
        provenance.setdefault(row["route"], Counter())[of_row(row)] += 1
    return {"lines": len(lines), "errors": sum(1 for r in run.rows if r.get("error")),
            "provenance": {route: dict(counts) for route, counts in provenance.items()}, "out": str(out)}
