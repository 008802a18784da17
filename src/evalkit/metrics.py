"""Aggregate metrics over result rows: pure functions of rows.

Accuracy, kappa and macro-F1 count unparsed and errored rows as wrong: they enter as
the predicted values `__unparsed__` and `__error__`. Parse rate is parsed rows over
rows that returned an output; error rows are counted apart.

A case's repeats are one cluster: `n` is the number of cases everywhere; rates are per-call
means over the rows with a case-clustered Wilson interval (evalkit.stats.clustered_rate);
kappa, macro-F1 and per-label F1 carry BCa intervals widened to the jackknife's
(evalkit.stats.bootstrap_interval) from a bootstrap that resamples whole cases; kappa's also
reaches at least the Wilson limits of the observed agreement carried through its formula.
Macro-F1 averages over the labels that occur among the expected answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from evalkit.headline import (
    ERROR,
    HEADLINE,
    UNPARSED,
    Array,
    HeadlineMetric,
    f1_from_confusions,
    kappa_from_confusions,
    macro_f1_from_confusions,
    predicted_value,
)

Row = dict[str, Any]
__all__ = [
    "ERROR",
    "UNPARSED",
    "f1_from_confusions",
    "kappa_from_confusions",
    "macro_f1_from_confusions",
    "predicted_value",
]

N_BOOT = 2000


def rate(successes: int, n: int) -> dict[str, Any]:
    from evalkit.stats import wilson_interval

    ci = wilson_interval(successes, n) if n else None
    return {"value": successes / n if n else None, "ci95": list(ci) if ci else None, "n": n}


def confusion_counts(rows: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    columns = [*labels, UNPARSED, ERROR]
    index = {label: i for i, label in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in labels]
    for row in rows:
        matrix[index[row["expected_label"]]][index[predicted_value(row)]] += 1
    return {"labels": list(labels), "columns": columns, "matrix": matrix}


def per_class_scores(confusion: dict[str, Any], labels: list[str]) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support of each label from the confusion counts; a ratio with
    nothing to divide by is 0 (scikit-learn's zero_division=0). Unparsed and error rows count
    against recall and F1, never for a label's predictions."""
    matrix = confusion["matrix"]
    predicted = [sum(row[j] for row in matrix) for j in range(len(labels))]
    scores = {}
    for i, label in enumerate(labels):
        tp, support = matrix[i][i], sum(matrix[i])
        scores[label] = {
            "precision": tp / predicted[i] if predicted[i] else 0.0,
            "recall": tp / support if support else 0.0,
            "f1": 2 * tp / (support + predicted[i]) if support + predicted[i] else 0.0,
            "support": support,
        }
    return scores


class CaseCells:
    """Per-case confusion counts, (n_cases, K*K) in effect, K = labels + 2 specials: each row
    is kept as its case's index and its confusion cell (expected * K + predicted), so memory
    grows with the rows, not with K*K. Repeats of a case share its index."""

    def __init__(self, cases: Array, cells: Array, n_cases: int, k: int) -> None:
        self.cases, self.cells, self.n_cases, self.k = cases, cells, n_cases, k

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_cases, self.k * self.k


def cluster_confusions(rows: list[dict[str, Any]], labels: list[str]) -> tuple[CaseCells, int]:
    """The rows' per-case confusion counts (a CaseCells) and K."""
    import numpy as np

    classes = [*labels, UNPARSED, ERROR]
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    case_index: dict[str, int] = {}
    clusters = np.fromiter(
        (case_index.setdefault(r["case_id"], len(case_index)) for r in rows), dtype=np.int64, count=len(rows)
    )
    cells = np.fromiter(
        (index[r["expected_label"]] * k + index[predicted_value(r)] for r in rows), dtype=np.int64, count=len(rows)
    )
    return CaseCells(clusters, cells, len(case_index), k), k


#: at most this many cells in one batch of resamples (batch x n_cases), to bound memory on large suites
_BATCH_CELLS = 1 << 21


def case_resamples(n_cases: int, *, n_boot: int = N_BOOT, seed: int = 0, batch: int = 250) -> Iterator[Array]:
    """Yield (b, n_cases) matrices: how often each case is drawn in each bootstrap resample.

    Seeded and batched; two routes given the same matrices stay paired case by case. Every
    one of the `n_boot` resamples is drawn whatever the size; on large suites the batches
    are smaller (the draws, and so the results, do not depend on the batch size)."""
    import numpy as np

    batch = max(1, min(batch, _BATCH_CELLS // max(n_cases, 1)))
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, batch):
        size = min(batch, n_boot - start)
        draws = rng.integers(0, n_cases, size=(size, n_cases))
        offsets = (np.arange(size)[:, None] * n_cases + draws).ravel()
        yield np.bincount(offsets, minlength=size * n_cases).reshape(size, n_cases)


def resampled_confusions(per_case: CaseCells, k: int, multiplicity: Array) -> Array:
    """(b, K, K) confusion matrices of the resamples in a (b, n_cases) multiplicity matrix:
    each row counts as often as its case was drawn."""
    import numpy as np

    b = multiplicity.shape[0]
    weights = (
        multiplicity
        if per_case.cases.size == per_case.n_cases and _is_range(per_case.cases)
        else multiplicity[:, per_case.cases]
    )
    offsets = np.arange(0, b * k * k, k * k)[:, None] + per_case.cells[None, :]
    counts = np.bincount(offsets.ravel(), weights=weights.ravel(), minlength=b * k * k)
    return counts.reshape(b, k, k)


def _is_range(values: Array) -> bool:
    import numpy as np

    return bool(np.array_equal(values, np.arange(values.size)))


def interval(values: Array, confidence: float = 0.95) -> list[float] | None:
    """The percentile interval of bootstrap values; None when the statistic was undefined (NaN)
    in more than half of the resamples."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    undefined = np.isnan(values)
    if values.size == 0 or undefined.mean() > 0.5:
        return None
    values = values[~undefined]
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def jackknife_multiplicities(n_cases: int, batch: int = 256) -> Iterator[Array]:
    """Yield (b, n_cases) multiplicity matrices that each leave one case out, in case order."""
    import numpy as np

    batch = max(1, min(batch, _BATCH_CELLS // max(n_cases, 1)))
    for start in range(0, n_cases, batch):
        size = min(batch, n_cases - start)
        weights = np.ones((size, n_cases), dtype=np.int64)
        weights[np.arange(size), start + np.arange(size)] = 0
        yield weights


def bootstrap_statistics(
    rows: list[Row], labels: list[str], statistic: Callable[[Array], Any], *, seed: int = 0, n_boot: int = N_BOOT
) -> Any:
    """(estimate, bootstrap replicates, jackknife values) of `statistic`, a function from a
    (B, K, K) stack of confusion matrices to a (B,) or (B, m) array. Cases are resampled
    whole (a case's repeats stay together) and left out whole by the jackknife."""
    per_case, k = cluster_confusions(rows, labels)
    return bootstrap_cells(per_case, k, statistic, seed=seed, n_boot=n_boot)


def bootstrap_cells(
    per_case: CaseCells, k: int, statistic: Callable[[Array], Any], *, seed: int = 0, n_boot: int = N_BOOT
) -> Any:
    """`bootstrap_statistics` for any per-case cells (a scored field's, say): (estimate, bootstrap
    replicates, jackknife values) of `statistic` over (B, K, K) stacks of counts. Cases alike
    (CaseKinds) are counted together: the same matrices, built from a few hundred kinds of case
    where there were thousands of cases, and each kind left out once for the jackknife."""
    import numpy as np

    kinds = CaseKinds(per_case)
    full = resampled_confusions(kinds.cells, k, kinds.size[None, :])
    boot = np.concatenate(
        [
            statistic(resampled_confusions(kinds.cells, k, kinds.counts(m)))
            for m in case_resamples(per_case.n_cases, n_boot=n_boot, seed=seed)
        ]
    )
    if per_case.n_cases < 2:
        return statistic(full)[0], boot, boot[:0]
    left_out = np.concatenate([statistic(resampled_confusions(kinds.cells, k, m)) for m in kinds.left_out()])
    return statistic(full)[0], boot, left_out[kinds.kind]


class CaseKinds:
    """The cases of a CaseCells grouped by the cells their rows fall in. Two cases alike add the
    same counts to a resample and leave the same matrix behind when left out, so a statistic
    need only see one case of each kind: `cells` holds those (its case indices are kinds),
    `kind` each case's kind, `size` how many cases each kind has. With one row per case there
    are at most K*K kinds, whatever the number of cases."""

    def __init__(self, per_case: CaseCells) -> None:
        import numpy as np

        order = np.lexsort((per_case.cells, per_case.cases))
        cases, cells = per_case.cases[order], per_case.cells[order]
        bounds = np.flatnonzero(np.diff(cases)) + 1
        keys = [b""] * per_case.n_cases  # a case without rows is a kind of its own: it adds nothing
        for case, group in zip(cases[np.r_[0, bounds]].tolist() if cases.size else [], np.split(cells, bounds)):
            keys[case] = group.tobytes()
        found: dict[bytes, int] = {}
        self.kind = np.fromiter(
            (found.setdefault(key, len(found)) for key in keys), dtype=np.int64, count=per_case.n_cases
        )
        first = np.zeros(per_case.n_cases, dtype=bool)
        first[np.unique(self.kind, return_index=True)[1]] = True
        rows = first[per_case.cases]
        self.cells = CaseCells(self.kind[per_case.cases[rows]], per_case.cells[rows], len(found), per_case.k)
        self.size = np.bincount(self.kind, minlength=len(found))
        self._order = np.argsort(self.kind, kind="stable")
        self._starts = np.cumsum(self.size) - self.size  # where each kind's cases begin in _order

    def counts(self, multiplicity: Array) -> Array:
        """(b, kinds) from a (b, n_cases) multiplicity matrix: how often each kind was drawn."""
        import numpy as np

        return np.add.reduceat(multiplicity[:, self._order], self._starts, axis=1)

    def left_out(self, batch: int = 256) -> Iterator[Array]:
        """Yield (b, kinds) multiplicities that each leave out one case of a kind, in kind order."""
        import numpy as np

        n = self.size.size
        for start in range(0, n, batch):
            stop = min(n, start + batch)
            weights = np.tile(self.size, (stop - start, 1))
            weights[np.arange(stop - start), np.arange(start, stop)] -= 1
            yield weights


def headline_entries(
    rows: list[Row], labels: list[str], *, seed: int = 0, n_boot: int = N_BOOT
) -> tuple[dict[str, dict[str, Any]], dict[str, list[float] | None]]:
    """Each headline metric (evalkit.headline) of the rows as `{value, ci95, n}` (and `reason`
    when undefined), and each label's F1 interval: Wilson rates clustered by case; the other
    metrics and the labels' F1 from one case-clustered bootstrap (BCa widened to the jackknife,
    evalkit.stats.bootstrap_interval)."""
    import numpy as np

    from evalkit.stats import bootstrap_interval

    n_cases = len({r["case_id"] for r in rows})
    if not rows:
        return {m.name: _entry(m, None, None, 0, "no rows") for m in HEADLINE.values()}, {}
    n_labels = len(labels)
    resampled = [m for m in HEADLINE.values() if m.interval == "bootstrap"]

    def statistic(conf: Array) -> Array:
        values = [m.of_confusions(conf, n_labels) for m in resampled]
        return np.column_stack([*values, f1_from_confusions(conf, n_labels)])

    estimate, boot, jack = bootstrap_statistics(rows, labels, statistic, seed=seed, n_boot=n_boot)
    cis = [
        bootstrap_interval(
            float(estimate[j]) if np.isfinite(estimate[j]) else None,
            boot[:, j],
            jack[:, j],
            bounds=resampled[j].bounds if j < len(resampled) else (0.0, 1.0),
        )
        for j in range(boot.shape[1])
    ]
    entries = {}
    for metric in HEADLINE.values():
        if metric.interval == "wilson":
            assert metric.hit is not None  # register() checks
            entries[metric.name] = {**case_rate(rows, metric.hit, metric.counted or _every), **metric.notes}
            continue
        j = resampled.index(metric)
        value = float(estimate[j]) if np.isfinite(estimate[j]) else None
        ci = cis[j] if value is not None else None
        if ci is not None and metric.widen is not None:
            ci = metric.widen(ci, rows, labels)
        entries[metric.name] = _entry(metric, value, ci, n_cases, None if value is not None else metric.undefined)
    return entries, dict(zip(labels, cis[len(resampled) :]))


def _entry(
    metric: HeadlineMetric, value: float | None, ci: list[float] | None, n: int, reason: str | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": value, "ci95": ci, "n": n, **metric.notes}
    if reason:
        entry["reason"] = reason
    return entry


def _every(row: Row) -> bool:
    return True


def per_case_counts(
    rows: list[Row], hit: Callable[[Row], Any], counted: Callable[[Row], Any] = lambda r: True
) -> tuple[list[int], list[int]]:
    """(successes, trials) per case, cases in first-seen order: `trials` counts the case's rows
    for which `counted(row)`, `successes` those for which `hit(row)` too."""
    tallies: dict[str, list[int]] = {}
    for row in rows:
        tally = tallies.setdefault(row["case_id"], [0, 0])
        if counted(row):
            tally[1] += 1
            tally[0] += bool(hit(row))
    return [t[0] for t in tallies.values()], [t[1] for t in tallies.values()]


def case_rate(
    rows: list[Row], hit: Callable[[Row], Any], counted: Callable[[Row], Any] = lambda r: True
) -> dict[str, Any]:
    """A per-call rate over the rows, its case-clustered Wilson interval and n = cases."""
    from evalkit.stats import clustered_rate

    return clustered_rate(*per_case_counts(rows, hit, counted))


def _percentiles(values: list[float]) -> dict[str, float | None]:
    from evalkit.stats import percentile

    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": sum(values) / len(values) if values else None,
        "n": len(values),
    }


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def by_tag(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per tag, in tag order: n (cases), accuracy (per call, with its case-clustered Wilson
    interval), parse rate, correct rows and rows."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for tag in row.get("tags") or ():
            if tag is not None:
                grouped.setdefault(str(tag), []).append(row)
    result = {}
    for tag in sorted(grouped):
        tagged = grouped[tag]
        accuracy = case_rate(tagged, lambda r: r.get("correct"))
        parse = case_rate(tagged, lambda r: r.get("parsed_ok"), lambda r: not r.get("error"))
        result[tag] = {
            "n": accuracy["n"],
            "accuracy": accuracy["value"],
            "accuracy_ci95": accuracy["ci95"],
            "parse_rate": parse["value"],
            "correct": sum(1 for r in tagged if r.get("correct")),
            "n_rows": len(tagged),
        }
    return result


def retrieval_quality(rows: list[dict[str, Any]], gold_sources: dict[str, list[str]]) -> dict[str, Any] | None:
    from evalkit.retrieval import recall_at_k, reciprocal_rank

    scored = [r for r in rows if r.get("retrieved") is not None and gold_sources.get(r["case_id"])]
    if not scored:
        return None
    recalls = [recall_at_k(gold_sources[r["case_id"]], r["retrieved"]) for r in scored]
    ranks = [reciprocal_rank(gold_sources[r["case_id"]], r["retrieved"]) for r in scored]
    return {
        "recall_at_k": sum(recalls) / len(recalls),
        "mrr": sum(ranks) / len(ranks),
        "k": max(len(r["retrieved"]) for r in scored),
        "n": len(scored),
    }


def cost(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    answered = [r for r in rows if not r.get("error")]
    if not answered or any(r.get("cost_usd") is None for r in answered):
        return None
    total = sum(r["cost_usd"] for r in answered)
    return {"total": total, "per_1k": total / len(answered) * 1000}


def projected_cost(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the configured model would have cost for the rows a stand-in or an unverified
    recording answered (their `projected_cost_usd`, from their tokens); None when not every
    answered row has one. Never mixed into `cost_usd`, which is what was billed."""
    answered = [r for r in rows if not r.get("error")]
    if not answered or any(r.get("projected_cost_usd") is None for r in answered):
        return None
    total = sum(r["projected_cost_usd"] for r in answered)
    return {"total": total, "per_1k": total / len(answered) * 1000, "projected": True}


def cached_input_share(rows: list[dict[str, Any]]) -> float | None:
    """The share of input tokens read from the provider's prompt cache; None when no row says."""
    answered = [r for r in rows if not r.get("error") and r.get("cached_input_tokens") is not None]
    total = sum(r.get("input_tokens") or 0 for r in answered)
    return sum(r["cached_input_tokens"] for r in answered) / total if answered and total else None


def summarize_route(
    rows: list[dict[str, Any]],
    labels: list[str],
    *,
    gold_sources: dict[str, list[str]] | None = None,
    seed: int = 0,
    n_boot: int = N_BOOT,
    fields: dict[str, Any] | None = None,
    grades: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every metric of one route's rows (summary.json, as the README describes it)."""
    n_rows = len(rows)
    errors = [r for r in rows if r.get("error")]
    with_output = n_rows - len(errors)
    parsed = sum(1 for r in rows if r.get("parsed_ok"))
    confusion = confusion_counts(rows, labels)
    per_class: dict[str, dict[str, Any]] = dict(per_class_scores(confusion, labels)) if n_rows else {}
    headline, label_cis = headline_entries(rows, labels, seed=seed, n_boot=n_boot)
    cases_expecting: dict[str, set[str]] = {}
    for r in rows:
        cases_expecting.setdefault(r["expected_label"], set()).add(r["case_id"])
    for label, ci in label_cis.items():
        per_class[label]["f1_ci95"] = ci if per_class[label]["support"] else None
        per_class[label]["n_cases"] = len(cases_expecting.get(label, ()))
    n_cases = len({r["case_id"] for r in rows})

    latencies = [r["latency_ms"] for r in rows if r.get("latency_ms") is not None and not r.get("error")]
    summary = {
        "n": n_cases,
        "n_cases": n_cases,
        "n_rows": n_rows,
        **headline,
        "per_class": per_class,
        "confusion": confusion,
        "by_tag": by_tag(rows),
        "latency_ms": _percentiles(latencies),
        "tokens": {
            "input_mean": _mean(r.get("input_tokens") for r in rows if not r.get("error")),
            "output_mean": _mean(r.get("output_tokens") for r in rows if not r.get("error")),
        },
        "cost_usd": cost(rows),
        "errors": len(errors),
        "errors_by_type": dict(Counter(r["error"]["type"] for r in errors)),
        "unparsed": with_output - parsed,
        "cached": sum(1 for r in rows if r.get("cached")),
        "attempts": sum(r.get("attempts") or 1 for r in rows),
    }
    projected = projected_cost(rows)
    if projected is not None:
        summary["projected_cost_usd"] = projected
    share = cached_input_share(rows)
    if share is not None:
        summary["cached_input_share"] = share
    retrieval = retrieval_quality(rows, gold_sources or {})
    if retrieval is not None:
        summary["retrieval"] = retrieval
    if any(r.get("repeat") for r in rows):
        from evalkit.repeats import repeat_stability

        summary["repeats"] = repeat_stability(rows)
    summary.update(scored_fields(rows, fields or {}, seed=seed, grades=grades or {}))
    return summary


def scored_fields(
    rows: list[dict[str, Any]], fields: dict[str, Any], *, seed: int = 0, grades: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """`fields` (each scored field's metrics, evalkit.field_metrics), `exact_match` (every scored
    field right) and `repair` (repair passes) of a route, for the parts that apply."""
    from evalkit.field_metrics import field_summary, repair_summary

    found: dict[str, Any] = {}
    if fields and any("fields" in r for r in rows):
        found["fields"] = {
            name: field_summary(
                rows,
                name,
                spec if isinstance(spec, dict) else spec.model_dump(),
                seed=seed,
                grades={c: g.get(name) for c, g in grades.items()},
            )
            for name, spec in fields.items()
        }
        found["exact_match"] = case_rate(rows, lambda r: r.get("exact_match") is True)
    repair = repair_summary(rows)
    if repair is not None:
        found["repair"] = repair
    return found


def summarize(
    rows: list[dict[str, Any]],
    labels: list[str],
    *,
    routes: list[str] | None = None,
    gold_sources: dict[str, list[str]] | None = None,
    seed: int = 0,
    fields: dict[str, Any] | None = None,
    grades: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`summary.json`: per-route metrics of a run's rows. `fields` are the task's scored fields
    (as in the suite), `grades` the cases' human grades of judged fields."""
    grouped: dict[str, list[dict[str, Any]]] = {route: [] for route in routes or []}
    for row in rows:
        grouped.setdefault(row["route"], []).append(row)
    return {
        "routes": {
            route: summarize_route(
                route_rows, labels, gold_sources=gold_sources, seed=seed, fields=fields, grades=grades
            )
            for route, route_rows in grouped.items()
        }
    }
