"""A stored run as pandas DataFrames, for notebooks and ad-hoc analysis.

`results_frame` has one row per result (case x route x repeat) with the case's input text;
`metrics_frame` one row per route and metric with the value, its 95% interval and n, as the
summary holds them. Both read the run directory alone and compute nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import BadInput
from evalkit.field_metrics import FIELD_METRICS
from evalkit.headline import HEADLINE
from evalkit.rows import ROW_FIELDS
from evalkit.store import load_run

if TYPE_CHECKING:
    import pandas as pd


def _input_text(case: dict) -> str | None:
    value = case.get("input")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return "\n".join(f"{key}: {text}" for key, text in value.items())


def results_frame(run_dir: str | Path) -> pd.DataFrame:
    """Every result row of the run, in file order, plus `run_id` and the case's `input`."""
    import pandas as pd

    run = load_run(run_dir)
    frame = pd.DataFrame.from_records(
        run.rows, columns=list(dict.fromkeys([*ROW_FIELDS, *(k for r in run.rows for k in r)]))
    )
    frame.insert(0, "run_id", run.manifest.get("run_id"))
    frame["input"] = [_input_text(run.cases.get(case_id, {})) for case_id in frame["case_id"]]
    return frame


def metrics_frame(run_dir: str | Path) -> pd.DataFrame:
    """Route x metric: `value`, `ci95_low`, `ci95_high` and `n` of each headline metric
    (evalkit.headline), each scored field's metrics (`FIELD.METRIC`) and `exact_match`, from
    summary.json."""
    import pandas as pd

    run = load_run(run_dir)
    if run.summary is None:
        raise BadInput("summary.json is missing: `evalkit score RUN_DIR` writes it", where=str(run.dir))
    records = []
    for route, metrics in run.summary["routes"].items():
        entries = {name: metrics[name] for name in HEADLINE if name in metrics}
        for field, figures in (metrics.get("fields") or {}).items():
            entries.update({f"{field}.{name}": figures[name] for name in FIELD_METRICS if name in figures})
        if "exact_match" in metrics:
            entries["exact_match"] = metrics["exact_match"]
        for name, entry in entries.items():
            low, high = entry.get("ci95") or (None, None)
            records.append(
                {
                    "route": route,
                    "metric": name,
                    "value": entry["value"],
                    "ci95_low": low,
                    "ci95_high": high,
                    "n": entry["n"],
                }
            )
    return pd.DataFrame.from_records(records, columns=["route", "metric", "value", "ci95_low", "ci95_high", "n"])
