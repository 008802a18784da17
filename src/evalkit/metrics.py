"""Aggregate metrics over result rows: pure functions of rows.

Accuracy, kappa and macro-F1 count unparsed and errored rows as wrong: they enter as
the predicted values `__unparsed__` and `__error__`. Parse rate is parsed rows over
rows that returned an output; error rows are counted apart.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

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
        scores[label] = {"precision": tp / predicted[i] if predicted[i] else 0.0,
                         "recall": tp / support if support else 0.0,
                         "f1": 2 * tp / (support + predicted[i]) if support + predicted[i] else 0.0,
                         "support": support}
    return scores


# -- vectorised kappa and macro-F1 over many confusion matrices (for the bootstrap) --

def kappa_from_confusions(conf):
    """Cohen's kappa of each (K, K) matrix in a (B, K, K) stack; nan where undefined."""
    import numpy as np

    n = conf.sum(axis=(1, 2)).astype(float)
    observed = np.trace(conf, axis1=1, axis2=2) / n
    expected = (conf.sum(axis=2) * conf.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return np.where(np.isclose(expected, 1.0), np.nan, kappa)


def macro_f1_from_confusions(conf, n_labels: int):
    """Macro-F1 over the first `n_labels` classes of each matrix (zero when undefined, as sklearn's zero_division=0)."""
    import numpy as np

    tp = np.diagonal(conf, axis1=1, axis2=2)[:, :n_labels].astype(float)
    fp = conf.sum(axis=1)[:, :n_labels] - tp
    fn = conf.sum(axis=2)[:, :n_labels] - tp
    denom = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    return f1.mean(axis=1)


class CaseCells:
    """Per-case confusion counts, (n_cases, K*K) in effect, K = labels + 2 specials: each row
    is kept as its case's index and its confusion cell (expected * K + predicted), so memory
    grows with the rows, not with K*K. Repeats of a case share its index."""

    def __init__(self, cases, cells, n_cases: int, k: int):
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
    clusters = np.fromiter((case_index.setdefault(r["case_id"], len(case_index)) for r in rows), dtype=np.int64, count=len(rows))
    cells = np.fromiter((index[r["expected_label"]] * k + index[predicted_value(r)] for r in rows), dtype=np.int64, count=len(rows))
    return CaseCells(clusters, cells, len(case_index), k), k


#: at most this many cells in one batch of resamples (batch x n_cases), to bound memory on large suites
_BATCH_CELLS = 1 << 21


def case_resamples(n_cases: int, *, n_boot: int = N_BOOT, seed: int = 0, batch: int = 250):
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


def resampled_confusions(per_case: CaseCells, k: int, multiplicity):
    """(b, K, K) confusion matrices of the resamples in a (b, n_cases) multiplicity matrix:
    each row counts as often as its case was drawn."""
    import numpy as np

    b = multiplicity.shape[0]
    weights = multiplicity if per_case.cases.size == per_case.n_cases and _is_range(per_case.cases) \
        else multiplicity[:, per_case.cases]
    offsets = np.arange(0, b * k * k, k * k)[:, None] + per_case.cells[None, :]
    counts = np.bincount(offsets.ravel(), weights=weights.ravel(), minlength=b * k * k)
    return counts.reshape(b, k, k)


def _is_range(values) -> bool:
    import numpy as np

    return bool(np.array_equal(values, np.arange(values.size)))


def bootstrap_confusions(per_case, k: int, *, n_boot: int = N_BOOT, seed: int = 0):
    """Yield (b, K, K) stacks of confusion matrices of cases resampled with replacement."""
    for multiplicity in case_resamples(per_case.shape[0], n_boot=n_boot, seed=seed):
        yield resampled_confusions(per_case, k, multiplicity)


def interval(values, confidence: float = 0.95) -> list[float] | None:
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


def kappa_and_f1_intervals(rows, labels, *, seed: int = 0, n_boot: int = N_BOOT):
    import numpy as np

    per_case, k = cluster_confusions(rows, labels)
    kappas, f1s = [], []
    for conf in bootstrap_confusions(per_case, k, n_boot=n_boot, seed=seed):
        kappas.append(kappa_from_confusions(conf))
        f1s.append(macro_f1_from_confusions(conf, len(labels)))
    kappas, f1s = np.concatenate(kappas), np.concatenate(f1s)
    return interval(kappas), interval(f1s)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    from evalkit.stats import percentile

    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "mean": sum(values) / len(values) if values else None, "n": len(values)}


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def by_tag(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per tag, in tag order: n, accuracy (with its Wilson interval), parse rate, correct."""
    counts: dict[str, list[int]] = {}  # tag -> [n, correct, parsed, with output]
    for row in rows:
        tags = row.get("tags")
        if not tags:
            continue
        correct, parsed, with_output = bool(row.get("correct")), bool(row.get("parsed_ok")), not row.get("error")
        for tag in tags:
            if tag is None:
                continue
            tally = counts.get(tag)
            if tally is None:
                tally = counts[tag] = [0, 0, 0, 0]
            tally[0] += 1
            tally[1] += correct
            tally[2] += parsed
            tally[3] += with_output
    result = {}
    for tag in sorted(counts):
        n, correct, parsed, with_output = counts[tag]
        accuracy = rate(correct, n)
        result[str(tag)] = {
            "n": n,
            "accuracy": accuracy["value"],
            "accuracy_ci95": accuracy["ci95"],
            "parse_rate": parsed / with_output if with_output else None,
            "correct": correct,
        }
    return result


def retrieval_quality(rows: list[dict[str, Any]], gold_sources: dict[str, list[str]]) -> dict[str, Any] | None:
    from evalkit.retrieval import recall_at_k, reciprocal_rank

    scored = [r for r in rows if r.get("retrieved") is not None and gold_sources.get(r["case_id"])]
    if not scored:
        return None
    recalls = [recall_at_k(gold_sources[r["case_id"]], r["retrieved"]) for r in scored]
    ranks = [reciprocal_rank(gold_sources[r["case_id"]], r["retrieved"]) for r in scored]
    return {"recall_at_k": sum(recalls) / len(recalls), "mrr": sum(ranks) / len(ranks),
            "k": max(len(r["retrieved"]) for r in scored), "n": len(scored)}


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


def summarize_route(rows: list[dict[str, Any]], labels: list[str], *, gold_sources: dict[str, list[str]] | None = None,
                    seed: int = 0, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Every metric of one route's rows (summary.json, as the README describes it)."""
    from evalkit.stats import cohen_kappa

    n = len(rows)
    errors = [r for r in rows if r.get("error")]
    with_output = n - len(errors)
    parsed = sum(1 for r in rows if r.get("parsed_ok"))
    correct = sum(1 for r in rows if r.get("correct"))
    y_true = [r["expected_label"] for r in rows]
    y_pred = [predicted_value(r) for r in rows]
    classes = [*labels, UNPARSED, ERROR]

    kappa_value, kappa_reason = cohen_kappa(y_true, y_pred, classes) if n else (None, "no rows")
    confusion = confusion_counts(rows, labels)
    per_class = per_class_scores(confusion, labels) if n else {}
    macro = sum(c["f1"] for c in per_class.values()) / len(labels) if n and labels else None
    kappa_ci = f1_ci = None
    if n:
        kappa_ci, f1_ci = kappa_and_f1_intervals(rows, labels, seed=seed, n_boot=n_boot)
    n_cases = len({r["case_id"] for r in rows})
    kappa = {"value": kappa_value, "ci95": kappa_ci if kappa_value is not None else None, "n": n_cases}
    if kappa_reason:
        kappa["reason"] = kappa_reason


    latencies = [r["latency_ms"] for r in rows if r.get("latency_ms") is not None and not r.get("error")]
    summary = {
        "n": n,
        "n_cases": n_cases,
        "parse_rate": rate(parsed, with_output),
        "accuracy": rate(correct, n),
        "kappa": kappa,
        "macro_f1": {"value": macro, "ci95": f1_ci, "n": n_cases},
        "per_class": per_class,
        "confusion": confusion,
        "by_tag": by_tag(rows),
        "latency_ms": _percentiles(latencies),
        "tokens": {"input_mean": _mean(r.get("input_tokens") for r in rows if not r.get("error")),
                   "output_mean": _mean(r.get("output_tokens") for r in rows if not r.get("error"))},
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
    return summary


def summarize(rows: list[dict[str, Any]], labels: list[str], *, routes: list[str] | None = None,
              gold_sources: dict[str, list[str]] | None = None, seed: int = 0) -> dict[str, Any]:
    """`summary.json`: per-route metrics of a run's rows."""
    grouped: dict[str, list[dict[str, Any]]] = {route: [] for route in routes or []}
    for row in rows:
        grouped.setdefault(row["route"], []).append(row)
    return {"routes": {route: summarize_route(route_rows, labels, gold_sources=gold_sources, seed=seed)
                       for route, route_rows in grouped.items()}}
