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

Row = dict[str, Any]
Array = Any  # a numpy array (numpy's own types would make every caller spell out its dtype)

UNPARSED, ERROR = "__unparsed__", "__error__"
N_BOOT = 2000
#: the headline metrics as people read them (gate reasons, comparison tables)
METRIC_NAMES = {"parse_rate": "parse rate", "accuracy": "accuracy", "kappa": "kappa", "macro_f1": "macro-F1"}


def predicted_value(row: dict[str, Any]) -> str:
    if row.get("error"):
        return ERROR
    return row["predicted_label"] if row.get("parsed_ok") else UNPARSED


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


# -- vectorised kappa and macro-F1 over many confusion matrices (for the bootstrap) --


def kappa_from_confusions(conf: Array) -> Array:
    """Cohen's kappa of each (K, K) matrix in a (B, K, K) stack; nan where undefined."""
    import numpy as np

    n = conf.sum(axis=(1, 2)).astype(float)
    observed = np.trace(conf, axis1=1, axis2=2) / n
    expected = (conf.sum(axis=2) * conf.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return np.where(np.isclose(expected, 1.0), np.nan, kappa)


def f1_from_confusions(conf: Array, n_labels: int) -> Array:
    """(B, n_labels) per-label F1 of each matrix, zero where undefined (sklearn's zero_division=0)."""
    import numpy as np

    tp = np.diagonal(conf, axis1=1, axis2=2)[:, :n_labels].astype(float)
    fp = conf.sum(axis=1)[:, :n_labels] - tp
    fn = conf.sum(axis=2)[:, :n_labels] - tp
    denom = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * tp / denom, 0.0)


def macro_f1_from_confusions(conf: Array, n_labels: int) -> Array:
    """Macro-F1 of each matrix over the labels that occur among its expected answers (the
    labels with support); nan when no label occurs. A label of the label set that no case
    expects has no recall to measure and does not count as an F1 of zero."""
    import numpy as np

    f1 = f1_from_confusions(conf, n_labels)
    present = conf.sum(axis=2)[:, :n_labels] > 0
    count = present.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, (f1 * present).sum(axis=1) / np.maximum(count, 1), np.nan)


def kappa_macro_f1_and_f1(conf: Array, n_labels: int) -> Array:
    """(B, 2 + n_labels): kappa, macro-F1 and each label's F1 of each matrix, the values of
    kappa_from_confusions, macro_f1_from_confusions and f1_from_confusions, from one pass of
    row and column sums (counts: whole numbers, which sum exactly in any order)."""
    import numpy as np

    expected_totals, predicted_totals = conf.sum(axis=2), conf.sum(axis=1)
    n = expected_totals.sum(axis=1).astype(float)
    diagonal = np.diagonal(conf, axis1=1, axis2=2)
    observed = diagonal.sum(axis=1) / n
    chance = (expected_totals * predicted_totals).sum(axis=1) / (n * n)
    tp = diagonal[:, :n_labels].astype(float)
    fp = predicted_totals[:, :n_labels] - tp
    fn = expected_totals[:, :n_labels] - tp
    denom = 2 * tp + fp + fn
    present = expected_totals[:, :n_labels] > 0
    count = present.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(np.isclose(chance, 1.0), np.nan, (observed - chance) / (1 - chance))
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
        macro = np.where(count > 0, (f1 * present).sum(axis=1) / np.maximum(count, 1), np.nan)
    return np.column_stack([kappa, macro, f1])


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


def bootstrap_confusions(per_case: CaseCells, k: int, *, n_boot: int = N_BOOT, seed: int = 0) -> Iterator[Array]:
    """Yield (b, K, K) stacks of confusion matrices of cases resampled with replacement."""
    for multiplicity in case_resamples(per_case.shape[0], n_boot=n_boot, seed=seed):
        yield resampled_confusions(per_case, k, multiplicity)


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
    replicates, jackknife values) of `statistic` over (B, K, K) stacks of counts."""
    import numpy as np

    full = resampled_confusions(per_case, k, np.ones((1, per_case.n_cases), dtype=np.int64))
    boot = np.concatenate([statistic(c) for c in bootstrap_confusions(per_case, k, n_boot=n_boot, seed=seed)])
    jack = (
        np.concatenate(
            [statistic(resampled_confusions(per_case, k, m)) for m in jackknife_multiplicities(per_case.n_cases)]
        )
        if per_case.n_cases > 1
        else boot[:0]
    )
    return statistic(full)[0], boot, jack


def kappa_and_f1_intervals(rows: list[Row], labels: list[str], *, seed: int = 0, n_boot: int = N_BOOT) -> Any:
    """Intervals (evalkit.stats.bootstrap_interval: BCa widened to the jackknife) of kappa and
    macro-F1, and of each label's F1 (a dict), from one case-clustered bootstrap."""
    import numpy as np

    from evalkit.stats import bootstrap_interval

    n_labels = len(labels)

    def statistic(conf: Array) -> Array:
        return kappa_macro_f1_and_f1(conf, n_labels)

    estimate, boot, jack = bootstrap_statistics(rows, labels, statistic, seed=seed, n_boot=n_boot)
    cis = [
        bootstrap_interval(
            float(estimate[j]) if np.isfinite(estimate[j]) else None,
            boot[:, j],
            jack[:, j],
            bounds=(-1.0, 1.0) if j == 0 else (0.0, 1.0),
        )
        for j in range(boot.shape[1])
    ]
    return _with_agreement_limits(cis[0], rows, labels), cis[1], dict(zip(labels, cis[2:]))


def _with_agreement_limits(kappa_ci: list[float] | None, rows: list[Row], labels: list[str]) -> list[float] | None:
    """Kappa's interval widened, where needed, to the Wilson limits of the observed agreement
    (which is accuracy) carried through kappa = (p_o - p_e) / (1 - p_e) at the observed chance
    agreement p_e. A route right on nearly every case leaves the bootstrap and the jackknife
    almost nothing to vary, and their interval collapses onto the estimate; the agreement's
    Wilson limits, like Wilson's for accuracy, do not."""
    import numpy as np

    if kappa_ci is None:
        return None
    per_case, k = cluster_confusions(rows, labels)
    conf = resampled_confusions(per_case, k, np.ones((1, per_case.n_cases), dtype=np.int64))[0]
    total = conf.sum()
    chance = float((conf.sum(axis=0) * conf.sum(axis=1)).sum() / (total * total))
    agreement = case_rate(rows, lambda r: predicted_value(r) == r["expected_label"])["ci95"]
    if chance >= 1.0 or agreement is None:
        return kappa_ci
    low, high = ((limit - chance) / (1.0 - chance) for limit in agreement)
    return [max(-1.0, min(kappa_ci[0], low)), min(1.0, max(kappa_ci[1], high))]


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
    from evalkit.stats import cohen_kappa

    n_rows = len(rows)
    errors = [r for r in rows if r.get("error")]
    with_output = n_rows - len(errors)
    parsed = sum(1 for r in rows if r.get("parsed_ok"))
    y_true = [r["expected_label"] for r in rows]
    y_pred = [predicted_value(r) for r in rows]
    classes = [*labels, UNPARSED, ERROR]

    kappa_value, kappa_reason = cohen_kappa(y_true, y_pred, classes) if n_rows else (None, "no rows")
    confusion = confusion_counts(rows, labels)
    per_class: dict[str, dict[str, Any]] = dict(per_class_scores(confusion, labels)) if n_rows else {}
    present = [c["f1"] for c in per_class.values() if c["support"]]
    macro = sum(present) / len(present) if present else None
    kappa_ci = f1_ci = None
    if n_rows:
        kappa_ci, f1_ci, label_cis = kappa_and_f1_intervals(rows, labels, seed=seed, n_boot=n_boot)
        for label, ci in label_cis.items():
            per_class[label]["f1_ci95"] = ci if per_class[label]["support"] else None
            per_class[label]["n_cases"] = len({r["case_id"] for r in rows if r["expected_label"] == label})
    n_cases = len({r["case_id"] for r in rows})
    kappa = {"value": kappa_value, "ci95": kappa_ci if kappa_value is not None else None, "n": n_cases}
    if kappa_reason:
        kappa["reason"] = kappa_reason

    latencies = [r["latency_ms"] for r in rows if r.get("latency_ms") is not None and not r.get("error")]
    summary = {
        "n": n_cases,
        "n_cases": n_cases,
        "n_rows": n_rows,
        "parse_rate": case_rate(rows, lambda r: r.get("parsed_ok"), lambda r: not r.get("error")),
        "accuracy": case_rate(rows, lambda r: r.get("correct")),
        "kappa": kappa,
        "macro_f1": {
            "value": macro,
            "ci95": f1_ci if macro is not None else None,
            "n": n_cases,
            "over": "the labels that occur among the expected answers",
        },
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
