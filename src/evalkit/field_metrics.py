"""Metrics of the scored fields of the answer (evalkit.fields): one declaration per metric.

`FIELD_METRICS` is the registry every later stage reads: the summary computes each metric
that applies to a field's type (`routes.ROUTE.fields.FIELD.METRIC` as `{value, ci95, n}`),
compare pairs it by case, the gate accepts `FIELD.METRIC` keys in `min` and `max_drop`, and
the report and the packet list it. Adding a metric is one `FieldMetric` here and its test.

* A metric estimated as a `rate` is a per-call share over the rows it counts (case-clustered Wilson interval,
  n = cases); compare pairs it by case with the same test and interval as the headline accuracy.
* A `statistic` is computed from a table of counts over the rows (quadratic-weighted kappa and
  mean distance from expected by answered step, mean judge grade from the grades): each row
  gives one cell (`cell`), and the statistic reads a stack of such tables (`from_counts`), so its
  interval is the headline kappa's vectorised case bootstrap widened by the jackknife
  (evalkit.metrics.bootstrap_cells, evalkit.stats.bootstrap_interval), and compare resamples
  both sides' cases together for the paired difference.

Quadratic-weighted kappa and the mean distance run over the rows whose answer and expected value
are both on the field's order (an unparsed answer has no place on it); accuracy counts those
rows as wrong. Pure functions of rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]
N_BOOT = 1000


@dataclass(frozen=True)
class FieldMetric:
    name: str
    label: str  # how people read it
    types: tuple[str, ...]  # the field types it applies to
    estimate: str  # "rate" (a per-call share) or "statistic" (of a table of counts)
    higher_is_better: bool = True
    needs_judge: bool = False
    hit: Callable[[dict[str, Any]], bool] | None = None  # rate: the row's field entry counts as a success
    counted: Callable[[dict[str, Any]], bool] | None = None  # rate: the entry enters the rate
    cell: Callable[[dict[str, Any], dict[str, Any]], tuple[int, int] | None] | None = None  # statistic: a row's cell
    size: Callable[[dict[str, Any]], int] | None = None  # statistic: K of the K x K table
    from_counts: Callable[[Any, dict[str, Any]], Any] | None = None  # statistic: (B, K, K) counts -> (B,)


def _order_cell(entry: dict[str, Any], spec: dict[str, Any]) -> tuple[int, int] | None:
    """(expected step, answered step) on the field's order, or None when either is off it."""
    order = spec.get("order") or []
    if entry.get("expected") in order and entry.get("predicted") in order:
        return order.index(entry["expected"]), order.index(entry["predicted"])
    return None


def _order_size(spec: dict[str, Any]) -> int:
    return len(spec.get("order") or [])


def _grade_cell(entry: dict[str, Any], spec: dict[str, Any]) -> tuple[int, int] | None:
    scale = (spec.get("judge") or {}).get("scale") or []
    grade = (entry.get("judge") or {}).get("grade")
    return (0, scale.index(grade)) if grade in scale else None


def _grade_size(spec: dict[str, Any]) -> int:
    return len((spec.get("judge") or {}).get("scale") or [])


def weighted_kappas(counts: Any) -> Any:
    """Quadratic-weighted kappa of each (K, K) table in a (B, K, K) stack; NaN where undefined."""
    import numpy as np

    counts = np.asarray(counts, dtype=float)
    k = counts.shape[-1]
    total = counts.sum(axis=(1, 2))
    grid = np.arange(k)
    penalty = (grid[:, None] - grid[None, :]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = counts.sum(axis=2)[:, :, None] * counts.sum(axis=1)[:, None, :] / total[:, None, None]
        disagreement = (penalty * expected).sum(axis=(1, 2))
        kappa = 1.0 - (penalty * counts).sum(axis=(1, 2)) / disagreement
    return np.where((total > 0) & (disagreement > 0), kappa, np.nan)


def quadratic_kappa(pairs: list[tuple[int, int]], k: int) -> float | None:
    """Cohen's kappa with quadratic weights over categories 0..k-1 (as scikit-learn's
    cohen_kappa_score(weights="quadratic", labels=range(k))); None when undefined."""
    import numpy as np

    if not pairs or k < 2:
        return None
    idx = np.asarray(pairs, dtype=int)
    counts = np.bincount(idx[:, 0] * k + idx[:, 1], minlength=k * k).reshape(1, k, k)
    value = float(weighted_kappas(counts)[0])
    return None if np.isnan(value) else value


def _mean_distances(counts: Any, spec: dict[str, Any]) -> Any:
    import numpy as np

    k = counts.shape[-1]
    grid = np.arange(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.abs(grid[:, None] - grid[None, :]) * counts).sum(axis=(1, 2)) / counts.sum(axis=(1, 2))


def _grade_means(counts: Any, spec: dict[str, Any]) -> Any:
    import numpy as np

    scale = np.asarray((spec.get("judge") or {}).get("scale") or [], dtype=float)
    by_grade = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (by_grade * scale[None, :]).sum(axis=1) / by_grade.sum(axis=1)


def _right(entry: dict[str, Any]) -> bool:
    return entry.get("correct") is True


def _scored(entry: dict[str, Any]) -> bool:
    """The field was scored for this row (the case expects a value, or a text field's checks ran)."""
    return entry.get("correct") is not None


def _judged(entry: dict[str, Any]) -> bool:
    return (entry.get("judge") or {}).get("grade") is not None


FIELD_METRICS: dict[str, FieldMetric] = {
    m.name: m
    for m in (
        FieldMetric(
            "accuracy",
            "accuracy",
            ("label", "ordinal", "number", "boolean", "exact"),
            "rate",
            hit=_right,
            counted=_scored,
        ),
        FieldMetric(
            "within_one",
            "within one step",
            ("ordinal",),
            "rate",
            hit=lambda e: e.get("distance") is not None and e["distance"] <= 1,
            counted=_scored,
        ),
        FieldMetric(
            "weighted_kappa",
            "quadratic-weighted kappa",
            ("ordinal",),
            "statistic",
            cell=_order_cell,
            size=_order_size,
            from_counts=lambda counts, spec: weighted_kappas(counts),
        ),
        FieldMetric(
            "mean_distance",
            "mean distance in steps",
            ("ordinal",),
            "statistic",
            higher_is_better=False,
            cell=_order_cell,
            size=_order_size,
            from_counts=_mean_distances,
        ),
        FieldMetric("pass_rate", "checks passed", ("text",), "rate", hit=_right, counted=_scored),
        FieldMetric(
            "judge_pass_rate",
            "judge pass rate",
            ("text",),
            "rate",
            needs_judge=True,
            hit=lambda e: (e.get("judge") or {}).get("passed") is True,
            counted=_judged,
        ),
        FieldMetric(
            "judge_mean",
            "mean judge grade",
            ("text",),
            "statistic",
            needs_judge=True,
            cell=_grade_cell,
            size=_grade_size,
            from_counts=_grade_means,
        ),
    )
}


def metrics_for(spec: dict[str, Any]) -> list[FieldMetric]:
    """The registered metrics that apply to a field spec (a suite's task.fields entry as a dict)."""
    return [
        m for m in FIELD_METRICS.values() if spec.get("type") in m.types and (not m.needs_judge or spec.get("judge"))
    ]


def entries(rows: list[Row], field: str) -> list[dict[str, Any]]:
    """Each row's entry for the field, with the row's case id (rows without one are skipped)."""
    found = []
    for row in rows:
        entry = (row.get("fields") or {}).get(field)
        if entry is not None:
            found.append({**entry, "case_id": row["case_id"]})
    return found


def rate_counts(items: list[dict[str, Any]], metric: FieldMetric) -> dict[str, tuple[int, int]]:
    """(successes, counted calls) per case."""
    counts: dict[str, list[int]] = {}
    for e in items:
        tally = counts.setdefault(e["case_id"], [0, 0])
        if metric.counted is not None and metric.counted(e):
            tally[1] += 1
            tally[0] += bool(metric.hit is not None and metric.hit(e))
    return {case: (s, t) for case, (s, t) in counts.items() if t}


def _bounds(metric: FieldMetric, spec: dict[str, Any]) -> tuple[float, float]:
    if metric.name == "weighted_kappa":
        return (-1.0, 1.0)
    if metric.name == "mean_distance":
        return (0.0, float(max(len(spec.get("order") or []) - 1, 0)))
    if metric.name == "judge_mean":
        scale = (spec.get("judge") or {}).get("scale") or [0, 1]
        return (float(min(scale)), float(max(scale)))
    return (0.0, 1.0)


def case_cells(
    items: list[dict[str, Any]], metric: FieldMetric, spec: dict[str, Any], case_index: dict[str, int]
) -> Any:
    """The entries' cells of a statistic metric as evalkit.metrics.CaseCells over `case_index`."""
    import numpy as np

    from evalkit.metrics import CaseCells

    assert metric.cell is not None and metric.size is not None
    k = metric.size(spec)
    found = [
        (case_index[e["case_id"]], cell)
        for e in items
        if e["case_id"] in case_index and (cell := metric.cell(e, spec)) is not None
    ]
    cases = np.fromiter((c for c, _ in found), dtype=np.int64, count=len(found))
    cells = np.fromiter((i * k + j for _, (i, j) in found), dtype=np.int64, count=len(found))
    return CaseCells(cases, cells, len(case_index), k)


def statistic(
    items: list[dict[str, Any]], metric: FieldMetric, spec: dict[str, Any], *, seed: int = 0, n_boot: int = N_BOOT
) -> dict[str, Any]:
    """{value, ci95, n} of a statistic metric: the case bootstrap widened by the jackknife."""
    import numpy as np

    from evalkit.metrics import bootstrap_cells
    from evalkit.stats import bootstrap_interval

    assert metric.from_counts is not None
    from_counts = metric.from_counts
    case_index = {c: i for i, c in enumerate(dict.fromkeys(e["case_id"] for e in items))}
    per_case = case_cells(items, metric, spec, case_index)
    if per_case.cells.size == 0 or per_case.k < 1:
        return {"value": None, "ci95": None, "n": len(case_index)}
    estimate, boot, jack = bootstrap_cells(
        per_case, per_case.k, lambda c: from_counts(c, spec), seed=seed, n_boot=n_boot
    )
    value = None if np.isnan(estimate) else float(estimate)
    ci = bootstrap_interval(value, boot, jack, bounds=_bounds(metric, spec)) if len(case_index) > 1 else None
    return {"value": value, "ci95": ci, "n": len(case_index)}


def field_summary(
    rows: list[Row],
    field: str,
    spec: dict[str, Any],
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
    grades: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every metric of one scored field over one route's rows, plus its confusion (label and
    ordinal fields), its text checks' pass rates and the judge's agreement with human grades."""
    from evalkit.stats import clustered_rate

    items = entries(rows, field)
    result: dict[str, Any] = {"type": spec.get("type")}
    for metric in metrics_for(spec):
        if metric.estimate == "rate":
            counts = rate_counts(items, metric)
            result[metric.name] = clustered_rate([s for s, _ in counts.values()], [t for _, t in counts.values()])
        else:
            result[metric.name] = statistic(items, metric, spec, seed=seed, n_boot=n_boot)
    if spec.get("type") in ("label", "ordinal"):
        result["confusion"] = field_confusion(items, spec.get("order") or spec.get("labels") or [])
    if spec.get("type") == "text":
        names = sorted({name for e in items for name in (e.get("checks") or {})})
        result["checks"] = {name: clustered_rate(*_check_counts(items, name)) for name in names}
    if spec.get("judge") and grades:
        result["judge_agreement"] = judge_agreement(items, spec, grades)
    return result


def _check_counts(items: list[dict[str, Any]], name: str) -> tuple[list[int], list[int]]:
    tallies: dict[str, list[int]] = {}
    for e in items:
        if name in (e.get("checks") or {}):
            tally = tallies.setdefault(e["case_id"], [0, 0])
            tally[1] += 1
            tally[0] += bool(e["checks"][name])
    return [t[0] for t in tallies.values()], [t[1] for t in tallies.values()]


def field_confusion(items: list[dict[str, Any]], values: list[Any]) -> dict[str, Any]:
    """Expected value by answered value, with a column for answers off the list."""
    columns = [*values, "__other__"]
    index = {json_key(v): i for i, v in enumerate(values)}
    matrix = [[0] * len(columns) for _ in values]
    for e in items:
        row = index.get(json_key(e.get("expected")))
        if row is None:
            continue
        matrix[row][index.get(json_key(e.get("predicted")), len(values))] += 1
    return {"labels": list(values), "columns": columns, "matrix": matrix}


def json_key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def judge_agreement(items: list[dict[str, Any]], spec: dict[str, Any], grades: dict[str, Any]) -> dict[str, Any]:
    """The judge's quadratic-weighted kappa with the human grades (cases that carry one), with
    its interval and n, and the confusion of human grade by judge grade."""
    scale = list((spec.get("judge") or {}).get("scale") or [])
    pairs = [
        {"case_id": e["case_id"], "expected": grades[e["case_id"]], "predicted": e["judge"]["grade"]}
        for e in items
        if _judged(e) and grades.get(e["case_id"]) in scale
    ]
    as_order = {"order": scale}
    return {
        "weighted_kappa": statistic(pairs, FIELD_METRICS["weighted_kappa"], as_order),
        "exact_agreement": {
            "value": sum(p["expected"] == p["predicted"] for p in pairs) / len(pairs) if pairs else None,
            "n": len({p["case_id"] for p in pairs}),
        },
        "confusion": field_confusion(pairs, scale),
    }


def repair_summary(rows: list[Row]) -> dict[str, Any] | None:
    """Parse rate before and after repair passes, the share of cases that needed one, passes per
    100 cases and what they cost; None when the route makes no repair passes."""
    from evalkit.stats import clustered_rate

    repaired = [r for r in rows if r.get("repair") is not None]
    if not repaired:
        return None
    answered = [r for r in rows if not r.get("error")]
    cases = {r["case_id"] for r in rows}

    def per_case(hit: Callable[[Row], bool], among: list[Row]) -> dict[str, Any]:
        tallies: dict[str, list[int]] = {}
        for r in among:
            tally = tallies.setdefault(r["case_id"], [0, 0])
            tally[1] += 1
            tally[0] += bool(hit(r))
        return clustered_rate([t[0] for t in tallies.values()], [t[1] for t in tallies.values()])

    passes = sum((r.get("repair") or {}).get("passes", 0) for r in rows)
    costs = [(r.get("repair") or {}).get("cost_usd") for r in repaired if (r.get("repair") or {}).get("passes")]
    return {
        "parse_rate_first_pass": per_case(
            lambda r: bool((r.get("repair") or {}).get("first_parsed_ok", r.get("parsed_ok"))), answered
        ),
        "parse_rate_after_repair": per_case(lambda r: bool(r.get("parsed_ok")), answered),
        "needed_repair": per_case(lambda r: bool((r.get("repair") or {}).get("passes")), answered),
        "passes_per_100_cases": 100.0 * passes / len(cases) if cases else None,
        "input_tokens": sum((r.get("repair") or {}).get("input_tokens") or 0 for r in repaired),
        "output_tokens": sum((r.get("repair") or {}).get("output_tokens") or 0 for r in repaired),
        "latency_ms": sum((r.get("repair") or {}).get("latency_ms") or 0 for r in repaired),
        "cost_usd": None if any(c is None for c in costs) else sum(costs),
    }


def paired_field_metric(
    pa: list[Row],
    pb: list[Row],
    field: str,
    spec: dict[str, Any],
    metric: FieldMetric,
    ids: list[str],
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """B minus A of one field metric over the paired cases: rates with the headline accuracy's
    paired test and Newcombe interval, statistics with the paired case bootstrap."""
    items_a, items_b = entries(pa, field), entries(pb, field)
    if metric.estimate == "rate":
        from evalkit.compare import paired_rates

        counts_a, counts_b = rate_counts(items_a, metric), rate_counts(items_b, metric)
        both = [i for i in ids if i in counts_a and i in counts_b]
        if not both:
            return {"a": None, "b": None, "delta": None, "ci95": None, "n": 0}
        return paired_rates(counts_a, counts_b, both)
    return _paired_statistic(items_a, items_b, spec, metric, ids, seed=seed, n_boot=n_boot)


def _paired_statistic(
    items_a: list[dict[str, Any]],
    items_b: list[dict[str, Any]],
    spec: dict[str, Any],
    metric: FieldMetric,
    ids: list[str],
    *,
    seed: int,
    n_boot: int,
) -> dict[str, Any]:
    """B minus A of a statistic metric, both sides' cases resampled together (and left out
    together by the jackknife), with the interval of evalkit.stats.bootstrap_interval."""
    import numpy as np

    from evalkit.metrics import case_resamples, jackknife_multiplicities, resampled_confusions
    from evalkit.stats import bootstrap_interval

    assert metric.from_counts is not None
    from_counts = metric.from_counts
    case_index = {case: i for i, case in enumerate(ids)}
    cells_a, cells_b = case_cells(items_a, metric, spec, case_index), case_cells(items_b, metric, spec, case_index)
    k = cells_a.k

    def deltas(multiplicity: Any) -> Any:
        a = from_counts(resampled_confusions(cells_a, k, multiplicity), spec)
        b = from_counts(resampled_confusions(cells_b, k, multiplicity), spec)
        return b - a

    full = np.ones((1, len(ids)), dtype=np.int64)
    a = float(from_counts(resampled_confusions(cells_a, k, full), spec)[0])
    b = float(from_counts(resampled_confusions(cells_b, k, full), spec)[0])
    a_value, b_value = (None if np.isnan(a) else a), (None if np.isnan(b) else b)
    delta = None if a_value is None or b_value is None else b_value - a_value
    ci = None
    if delta is not None and len(ids) >= 2:
        boot = np.concatenate([deltas(m) for m in case_resamples(len(ids), n_boot=n_boot, seed=seed)])
        jack = np.concatenate([deltas(m) for m in jackknife_multiplicities(len(ids))])
        low, high = _bounds(metric, spec)
        ci = bootstrap_interval(delta, boot, jack, bounds=(low - high, high - low))
    return {"a": a_value, "b": b_value, "delta": delta, "ci95": ci, "n": len(ids), "on": "paired case bootstrap"}
