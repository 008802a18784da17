"""Metrics of the scored fields of the answer (evalkit.fields): one declaration per metric.

`FIELD_METRICS` is the registry every later stage reads: the summary computes each metric
that applies to a field's type (`routes.ROUTE.fields.FIELD.METRIC` as `{value, ci95, n}`),
compare pairs it by case, the gate accepts `FIELD.METRIC` keys in `min` and `max_drop`, and
the report and the packet list it. Adding a metric is one `FieldMetric` here and its test.

* A `rate` metric is a per-call share over the rows it counts (case-clustered Wilson interval,
  n = cases); compare pairs it by case with the same test and interval as the headline accuracy.
* A `statistic` is computed from the rows as a whole (quadratic-weighted kappa, mean distance,
  mean judge grade); its interval is the case bootstrap with the jackknife widening the headline
  kappa uses (evalkit.stats.bootstrap_interval), and compare bootstraps the paired difference.

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
    kind: str  # "rate" or "statistic"
    higher_is_better: bool = True
    needs_judge: bool = False
    hit: Callable[[dict[str, Any]], bool] | None = None  # rate: the row's field entry counts as a success
    counted: Callable[[dict[str, Any]], bool] | None = None  # rate: the entry enters the rate
    compute: Callable[[list[dict[str, Any]], dict[str, Any]], float | None] | None = None  # statistic


def _order_pairs(entries: list[dict[str, Any]], spec: dict[str, Any]) -> list[tuple[int, int]]:
    order = spec.get("order") or []
    return [
        (order.index(e["expected"]), order.index(e["predicted"]))
        for e in entries
        if e.get("expected") in order and e.get("predicted") in order
    ]


def quadratic_kappa(pairs: list[tuple[int, int]], k: int, weights: list[float] | None = None) -> float | None:
    """Cohen's kappa with quadratic weights over categories 0..k-1 (as scikit-learn's
    cohen_kappa_score(weights="quadratic", labels=range(k))); None when undefined."""
    import numpy as np

    if not pairs or k < 2:
        return None
    w = np.ones(len(pairs)) if weights is None else np.asarray(weights, dtype=float)
    idx = np.asarray(pairs, dtype=int)
    observed = np.bincount(idx[:, 0] * k + idx[:, 1], weights=w, minlength=k * k).reshape(k, k)
    total = observed.sum()
    if total <= 0:
        return None
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    grid = np.arange(k)
    penalty = (grid[:, None] - grid[None, :]) ** 2
    denominator = float((penalty * expected).sum())
    if denominator == 0:
        return None
    return float(1.0 - (penalty * observed).sum() / denominator)


def _weighted_kappa(entries: list[dict[str, Any]], spec: dict[str, Any]) -> float | None:
    return quadratic_kappa(_order_pairs(entries, spec), len(spec.get("order") or []))


def _mean_distance(entries: list[dict[str, Any]], spec: dict[str, Any]) -> float | None:
    pairs = _order_pairs(entries, spec)
    return sum(abs(a - b) for a, b in pairs) / len(pairs) if pairs else None


def _judge_mean(entries: list[dict[str, Any]], spec: dict[str, Any]) -> float | None:
    grades = [(e.get("judge") or {}).get("grade") for e in entries]
    present = [g for g in grades if g is not None]
    return sum(present) / len(present) if present else None


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
        FieldMetric("weighted_kappa", "quadratic-weighted kappa", ("ordinal",), "statistic", compute=_weighted_kappa),
        FieldMetric(
            "mean_distance",
            "mean distance in steps",
            ("ordinal",),
            "statistic",
            higher_is_better=False,
            compute=_mean_distance,
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
        FieldMetric("judge_mean", "mean judge grade", ("text",), "statistic", needs_judge=True, compute=_judge_mean),
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


def statistic_interval(
    items: list[dict[str, Any]], metric: FieldMetric, spec: dict[str, Any], *, seed: int = 0, n_boot: int = N_BOOT
) -> list[float] | None:
    """The case bootstrap (widened by the jackknife) of a statistic metric."""
    import numpy as np

    from evalkit.stats import bootstrap_interval

    assert metric.compute is not None
    estimate = metric.compute(items, spec)
    cases = list(dict.fromkeys(e["case_id"] for e in items))
    if estimate is None or len(cases) < 2:
        return None
    by_case = {c: [e for e in items if e["case_id"] == c] for c in cases}
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(cases), len(cases))
        value = metric.compute([e for i in drawn for e in by_case[cases[i]]], spec)
        boot.append(np.nan if value is None else value)
    jack = []
    for left_out in cases:
        value = metric.compute([e for e in items if e["case_id"] != left_out], spec)
        jack.append(np.nan if value is None else value)
    return bootstrap_interval(estimate, boot, jack, bounds=_bounds(metric, spec))


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
        if metric.kind == "rate":
            counts = rate_counts(items, metric)
            result[metric.name] = clustered_rate([s for s, _ in counts.values()], [t for _, t in counts.values()])
        else:
            assert metric.compute is not None
            cases = {e["case_id"] for e in items}
            result[metric.name] = {
                "value": metric.compute(items, spec),
                "n": len(cases),
                "ci95": statistic_interval(items, metric, spec, seed=seed, n_boot=n_boot),
            }
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
    kappa = FieldMetric("agreement", "judge agreement", ("text",), "statistic", compute=_weighted_kappa)
    cases = {p["case_id"] for p in pairs}
    return {
        "weighted_kappa": {
            "value": _weighted_kappa(pairs, as_order),
            "n": len(cases),
            "ci95": statistic_interval(pairs, kappa, as_order),
        },
        "exact_agreement": {
            "value": sum(p["expected"] == p["predicted"] for p in pairs) / len(pairs) if pairs else None,
            "n": len(cases),
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
    if metric.kind == "rate":
        from evalkit.compare import paired_rates

        counts_a, counts_b = rate_counts(items_a, metric), rate_counts(items_b, metric)
        both = [i for i in ids if i in counts_a and i in counts_b]
        if not both:
            return {"a": None, "b": None, "delta": None, "ci95": None, "n": 0}
        return paired_rates(counts_a, counts_b, both)
    return _paired_statistic(items_a, items_b, spec, metric, ids, seed=seed, n_boot=n_boot)


def _paired_statistic(
    items_a, items_b, spec, metric: FieldMetric, ids: list[str], *, seed: int, n_boot: int
) -> dict[str, Any]:
    import numpy as np

    from evalkit.stats import bootstrap_interval

    assert metric.compute is not None
    by_a = {i: [e for e in items_a if e["case_id"] == i] for i in ids}
    by_b = {i: [e for e in items_b if e["case_id"] == i] for i in ids}
    a, b = metric.compute(items_a, spec), metric.compute(items_b, spec)
    delta = None if a is None or b is None else b - a

    compute = metric.compute

    def diff(chosen: list[str]) -> float:
        va = compute([e for i in chosen for e in by_a[i]], spec)
        vb = compute([e for i in chosen for e in by_b[i]], spec)
        return np.nan if va is None or vb is None else vb - va

    ci = None
    if delta is not None and len(ids) >= 2:
        rng = np.random.default_rng(seed)
        boot = [diff([ids[j] for j in rng.integers(0, len(ids), len(ids))]) for _ in range(n_boot)]
        jack = [diff([i for i in ids if i != left]) for left in ids]
        low, high = _bounds(metric, spec)
        span = high - low
        ci = bootstrap_interval(delta, boot, jack, bounds=(-span, span))
    return {"a": a, "b": b, "delta": delta, "ci95": ci, "n": len(ids), "on": "paired case bootstrap"}
