"""Compare two routes case by case (docs/ci.md, section 1): a pure function of two runs.

Rows are paired by case id; a case's repeats are one cluster. Accuracy is compared as one
estimand, the per-call difference paired by case: a case's accuracy is the share of its calls
that were right, the delta is the mean over cases of B's minus A's, its interval is Newcombe's
on the per-case table (fractional with repeats), and its test the exact paired sign-flip test
(McNemar's exact test when each case has one call). The majority vote is reported apart, as
self-consistency. The paired bootstrap (BCa widened to the jackknife) resamples cases, never rows, drawing the same case
indices for A and B.
Each side's metric values are computed over the paired cases only, with the same
functions as summary.json (`metrics.summarize_route`). Deltas are B minus A.
"""

from __future__ import annotations

from typing import Any

from evalkit.errors import BadInput
from evalkit.headline import HEADLINE
from evalkit.metrics import N_BOOT, summarize_route
from evalkit.provenance import describe, provenance_of_route
from evalkit.repeats import majority_correct
from evalkit.store import Run

Row = dict[str, Any]
Summary = dict[str, Any]

ALPHA, POWER = 0.05, 0.80


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _pair(a: float | None, b: float | None) -> dict[str, float | None]:
    return {"a": a, "b": b, "delta": _delta(a, b)}


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["case_id"] for r in rows))


def _in_order(rows: list[dict[str, Any]], order: dict[str, int]) -> list[dict[str, Any]]:
    """The rows of the paired cases, cases in `order`, repeats in order within a case."""
    kept = [r for r in rows if r["case_id"] in order]
    return sorted(kept, key=lambda r: (order[r["case_id"]], r.get("repeat") or 0))


def _call_counts(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Case id -> (correct calls, calls)."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        tally = counts.setdefault(row["case_id"], [0, 0])
        tally[0] += bool(row.get("correct"))
        tally[1] += 1
    return {case_id: (c, n) for case_id, (c, n) in counts.items()}


def _listed(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# -- the paired bootstrap, vectorised over resamples --


def paired_bootstrap_deltas(
    rows_a: list[Row], rows_b: list[Row], labels: list[str], *, seed: int = 0, n_boot: int = N_BOOT
) -> dict[str, list[float] | None]:
    """95% intervals of B - A for each metric (BCa widened to the jackknife: evalkit.stats.bootstrap_interval),
    resampling the paired cases.

    `rows_a` and `rows_b` hold the same cases in the same order (see `_in_order`). Both
    sides get the very same resampled case indices, and the jackknife leaves the same case
    out of both. A resample where a metric is undefined on either side is skipped; with
    more than half skipped the interval is None.
    """
    import numpy as np

    from evalkit.metrics import case_resamples, cluster_confusions, jackknife_multiplicities, resampled_confusions
    from evalkit.stats import bootstrap_interval

    per_case_a, k = cluster_confusions(rows_a, labels)
    per_case_b, _ = cluster_confusions(rows_b, labels)
    n_labels = len(labels)

    def deltas(multiplicity: Any) -> Any:
        side_a = resampled_confusions(per_case_a, k, multiplicity)
        side_b = resampled_confusions(per_case_b, k, multiplicity)
        return np.column_stack(
            [m.of_confusions(side_b, n_labels) - m.of_confusions(side_a, n_labels) for m in HEADLINE.values()]
        )

    n_cases = per_case_a.shape[0]
    estimate = deltas(np.ones((1, n_cases), dtype=np.int64))[0]
    boot = np.concatenate([deltas(m) for m in case_resamples(n_cases, n_boot=n_boot, seed=seed)])
    jack = np.concatenate([deltas(m) for m in jackknife_multiplicities(n_cases)]) if n_cases > 1 else boot[:0]
    return {
        metric.name: bootstrap_interval(
            float(estimate[j]) if np.isfinite(estimate[j]) else None,
            boot[:, j],
            jack[:, j],
            bounds=(-metric.drop_bound, metric.drop_bound),
        )
        for j, metric in enumerate(HEADLINE.values())
    }


# -- the parts of the comparison --


def _metric_entries(sa: Summary, sb: Summary, cis: dict[str, Any], n_paired: int) -> dict[str, dict[str, Any]]:
    entries = {}
    for metric in HEADLINE:
        a, b = sa[metric]["value"], sb[metric]["value"]
        entry = {
            **_pair(a, b),
            "ci95": cis[metric] if a is not None and b is not None else None,
            "n": n_paired,
            "ci95_a": sa[metric]["ci95"],
            "ci95_b": sb[metric]["ci95"],
        }
        reasons = [f"{side}: {s[metric]['reason']}" for side, s in (("a", sa), ("b", sb)) if s[metric].get("reason")]
        if reasons:
            entry["reason"] = "; ".join(reasons)
        elif entry["delta"] is None:
            entry["reason"] = "undefined on one side"
        entries[metric] = entry
    return entries


ON = "per-call correctness, paired by case"


def _correctness(
    counts_a: dict[str, tuple[int, int]], counts_b: dict[str, tuple[int, int]], ids: list[str]
) -> dict[str, Any]:
    """The paired accuracy comparison on per-call correctness: `counts_x[id]` is (correct
    calls, calls) of the case on side x."""
    from evalkit.stats import mcnemar, newcombe_arrays, paired_sign_flip

    acc_a = {i: counts_a[i][0] / counts_a[i][1] for i in ids}
    acc_b = {i: counts_b[i][0] / counts_b[i][1] for i in ids}
    fixed = [i for i in ids if acc_b[i] > acc_a[i]]
    broken = [i for i in ids if acc_a[i] > acc_b[i]]
    single = all(acc_a[i] in (0.0, 1.0) and acc_b[i] in (0.0, 1.0) for i in ids)  # McNemar's own case
    table = {
        "both": sum(acc_a[i] * acc_b[i] for i in ids),
        "only_a": sum(acc_a[i] * (1 - acc_b[i]) for i in ids),
        "only_b": sum((1 - acc_a[i]) * acc_b[i] for i in ids),
        "neither": sum((1 - acc_a[i]) * (1 - acc_b[i]) for i in ids),
    }
    if single:
        table = {key: int(round(value)) for key, value in table.items()}
    low, high = newcombe_arrays(table["both"], table["only_a"], table["only_b"], table["neither"])
    test = paired_sign_flip(
        [counts_a[i][0] for i in ids],
        [counts_a[i][1] for i in ids],
        [counts_b[i][0] for i in ids],
        [counts_b[i][1] for i in ids],
    )
    two_sided = mcnemar(len(broken), len(fixed)) if single else {"p_exact": test["p_exact"], "p_midp": test["p_midp"]}
    return {
        "mcnemar": {
            "b": len(broken),
            "c": len(fixed),
            "p_exact": two_sided["p_exact"],
            "p_midp": two_sided["p_midp"],
            "p_one_sided": test["p_greater"],
            "n": len(ids),
            "on": ON,
            "test": "exact McNemar" if single else "exact paired sign-flip (McNemar's test generalised to repeats)",
        },
        "flips": {"fixed": fixed, "broken": broken},
        "newcombe": {
            "delta": test["delta"],
            "ci95": [float(low), float(high)],
            "n": len(ids),
            "table": table,
            "on": ON,
        },
        "p_discordant": (table["only_a"] + table["only_b"]) / len(ids),
    }


def paired_rates(
    counts_a: dict[str, tuple[int, int]], counts_b: dict[str, tuple[int, int]], ids: list[str]
) -> dict[str, Any]:
    """B minus A of a per-call rate paired by case (a scored field's accuracy, say), with the
    headline accuracy's test and interval: {a, b, delta, ci95, n, p_one_sided, p_exact}."""
    result = _correctness(counts_a, counts_b, ids)
    calls_a, calls_b = sum(counts_a[i][1] for i in ids), sum(counts_b[i][1] for i in ids)
    a, b = sum(counts_a[i][0] for i in ids) / calls_a, sum(counts_b[i][0] for i in ids) / calls_b
    return {
        "a": a,
        "b": b,
        "delta": result["newcombe"]["delta"],
        "ci95": result["newcombe"]["ci95"],
        "n": len(ids),
        "p_one_sided": result["mcnemar"]["p_one_sided"],
        "p_exact": result["mcnemar"]["p_exact"],
        "on": "per-call rate, paired by case (Newcombe interval, exact test)",
    }


def _field_comparisons(
    pa: list[Row], pb: list[Row], fields: dict[str, Any], ids: list[str], *, seed: int, n_boot: int
) -> dict[str, Any]:
    """Every scored field's metrics, B minus A, paired by case (evalkit.field_metrics)."""
    from evalkit.field_metrics import metrics_for, paired_field_metric

    if not fields or not any("fields" in r for r in pa) or not any("fields" in r for r in pb):
        return {}
    return {
        name: {m.name: paired_field_metric(pa, pb, name, spec, m, ids, seed=seed) for m in metrics_for(spec)}
        for name, spec in fields.items()
    }


def _self_consistency(pa: list[Row], pb: list[Row], ids: list[str]) -> dict[str, Any]:
    """Majority-vote accuracy of each side and McNemar's test on it, reported apart from the
    per-call comparison (only with repeats)."""
    from evalkit.metrics import rate
    from evalkit.stats import mcnemar

    ma, mb = majority_correct(pa), majority_correct(pb)
    fixed = sum(1 for i in ids if mb[i] and not ma[i])
    broken = sum(1 for i in ids if ma[i] and not mb[i])
    return {
        "majority_accuracy": {
            "a": rate(sum(ma[i] for i in ids), len(ids)),
            "b": rate(sum(mb[i] for i in ids), len(ids)),
        },
        "mcnemar": {**mcnemar(broken, fixed), "n": len(ids), "on": "majority-vote correctness per case"},
    }


def _mde(n: int, p_discordant: float, observed: float, warnings: list[str]) -> dict[str, Any]:
    from evalkit.stats import smallest_detectable_difference

    mde, reason = smallest_detectable_difference(n, p_discordant, alpha=ALPHA, power=POWER)
    test = f"the one-sided exact McNemar test at alpha {ALPHA}"
    if mde is None and p_discordant > 0:
        warnings.append(
            f"with {n} paired cases and {p_discordant:.0%} discordant pairs, no accuracy difference is "
            f"detectable at {POWER:.0%} power ({test}): the suite is too small to tell these routes apart"
        )
    elif mde is None:
        warnings.append(f"the smallest detectable accuracy difference {reason}")
    elif abs(observed) < mde:
        warnings.append(
            f"with {n} paired cases the smallest accuracy difference detectable at {POWER:.0%} power "
            f"({test}, {p_discordant:.0%} discordant pairs) is {mde:.3f}; the observed "
            f"{observed:+.3f} is below it, so 'no significant difference' is not evidence of no difference"
        )
    entry = {
        "value": mde,
        "observed": observed,
        "n": n,
        "p_discordant": p_discordant,
        "alpha": ALPHA,
        "power": POWER,
        "test": test,
    }
    if reason:
        entry["reason"] = reason
    return entry


def _per_class(sa: Summary, sb: Summary, labels: list[str]) -> dict[str, dict[str, Any]]:
    result = {}
    for label in labels:
        ca, cb = sa["per_class"].get(label), sb["per_class"].get(label)
        result[label] = {**_pair(ca and ca["f1"], cb and cb["f1"]), "support": (ca or cb or {}).get("support", 0)}
    return result


def _confusion_shifts(sa: Summary, sb: Summary) -> list[dict[str, Any]]:
    """Off-diagonal (expected, predicted) cells whose row count changed, largest change first."""
    conf_a, conf_b = sa["confusion"], sb["confusion"]
    shifts = []
    for i, expected in enumerate(conf_a["labels"]):
        for j, predicted in enumerate(conf_a["columns"]):
            a, b = conf_a["matrix"][i][j], conf_b["matrix"][i][j]
            if expected != predicted and a != b:
                shifts.append({"expected": expected, "predicted": predicted, "a": a, "b": b, "delta": b - a})
    return sorted(shifts, key=lambda s: (-abs(s["delta"]), s["expected"], s["predicted"]))


def _by_tag(
    sa: Summary, sb: Summary, flips: dict[str, list[str]], tags_of: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    result = {}
    for tag in sorted(set(sa["by_tag"]) | set(sb["by_tag"])):
        ta, tb = sa["by_tag"].get(tag, {}), sb["by_tag"].get(tag, {})
        cases = [i for i, tags in tags_of.items() if tag in tags]
        result[tag] = {
            "n": len(cases),
            "accuracy": _pair(ta.get("accuracy"), tb.get("accuracy")),
            "parse_rate": _pair(ta.get("parse_rate"), tb.get("parse_rate")),
            "fixed": sum(1 for i in flips["fixed"] if tag in tags_of.get(i, ())),
            "broken": sum(1 for i in flips["broken"] if tag in tags_of.get(i, ())),
        }
    return result


def _costs(sa: Summary, sb: Summary, warnings: list[str], refs: tuple[str, str]) -> dict[str, Any]:
    for side, s, ref in (("A", sa, refs[0]), ("B", sb, refs[1])):
        if s["cost_usd"] is None:
            warnings.append(
                f"the cost of {side} ({ref}) is unknown: no price for its model, or rows without token counts"
            )
    ca, cb = sa["cost_usd"] or {}, sb["cost_usd"] or {}
    return {"per_1k": _pair(ca.get("per_1k"), cb.get("per_1k")), "total": _pair(ca.get("total"), cb.get("total"))}


def _labels(run_a: Run, run_b: Run) -> list[str]:
    labels_a, labels_b = run_a.labels, run_b.labels
    if set(labels_a) != set(labels_b):
        only = sorted(set(labels_a) ^ set(labels_b))
        raise BadInput(
            f"the two runs have different label sets (differing: {', '.join(only)}): their metrics do not compare"
        )
    return list(labels_a)


def _side_warnings(run: Run, rows: list[Row], side: str, ref: str, warnings: list[str]) -> None:
    status = run.manifest.get("status")
    if status not in (None, "complete"):
        warnings.append(f"run {side} ({ref}) is {status}: cases may be missing")
    errors = sum(1 for r in rows if r.get("error"))
    if errors:
        warnings.append(
            f"{side} ({ref}) has {errors} error row{'s' if errors > 1 else ''} (no output): they count as wrong"
        )


def compare(
    run_a: Run,
    route_a: str,
    run_b: Run,
    route_b: str,
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
    refs: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Compare route B against route A over the cases both evaluated.

    Returns exactly what `evalkit compare A B --json` prints. `refs` are the names shown
    as `a` and `b` (default `RUN_DIR:ROUTE`).
    """
    refs = refs or (f"{run_a.dir}:{route_a}", f"{run_b.dir}:{route_b}")
    rows_a, rows_b = run_a.route_rows(route_a), run_b.route_rows(route_b)
    labels = _labels(run_a, run_b)
    ids_a, ids_b = _ids(rows_a), _ids(rows_b)
    in_a, in_b = set(ids_a), set(ids_b)
    paired = [i for i in ids_a if i in in_b]
    only_a, only_b = [i for i in ids_a if i not in in_b], [i for i in ids_b if i not in in_a]
    if not paired:
        raise BadInput(f"{refs[0]} and {refs[1]} have no case id in common: nothing to compare")

    warnings: list[str] = []
    if only_a or only_b:
        warnings.append(
            f"{len(only_a) + len(only_b)} case ids are not in both sides and are left out of every figure: "
            + "; ".join(
                part
                for part in (only_a and f"only in A: {_listed(only_a)}", only_b and f"only in B: {_listed(only_b)}")
                if part
            )
        )
    if run_a.dir != run_b.dir and run_a.manifest.get("cases_sha256") != run_b.manifest.get("cases_sha256"):
        warnings.append("the two runs were made from different case files: check that the cases still mean the same")
    order = {case_id: i for i, case_id in enumerate(paired)}
    pa, pb = _in_order(rows_a, order), _in_order(rows_b, order)
    gold_a = {r["case_id"]: r["expected_label"] for r in pa}
    gold_b = {r["case_id"]: r["expected_label"] for r in pb}
    relabelled = [i for i in paired if gold_a[i] != gold_b[i]]
    if relabelled:
        warnings.append(
            f"the expected label differs between the runs for {_listed(relabelled)}: "
            "each side is graded against its own"
        )
    _side_warnings(run_a, pa, "A", refs[0], warnings)
    _side_warnings(run_b, pb, "B", refs[1], warnings)
    provenance = {
        "a": provenance_of_route(run_a.manifest, route_a, rows_a),
        "b": provenance_of_route(run_b.manifest, route_b, rows_b),
    }
    for side, ref in (("a", refs[0]), ("b", refs[1])):
        if not provenance[side]["evidence"]:
            warnings.append(
                f"{side.upper()} ({ref}) answers are {describe(provenance[side])}: "
                "not evidence about its configured model"
            )

    sa = summarize_route(pa, labels, seed=seed, n_boot=n_boot)
    sb = summarize_route(pb, labels, seed=seed, n_boot=n_boot)
    cis = paired_bootstrap_deltas(pa, pb, labels, seed=seed, n_boot=n_boot)
    correctness = _correctness(_call_counts(pa), _call_counts(pb), paired)
    metrics = _metric_entries(sa, sb, cis, len(paired))
    metrics["accuracy"]["newcombe"] = correctness["newcombe"]
    mcnemar = correctness["mcnemar"]
    mde = _mde(len(paired), correctness["p_discordant"], correctness["newcombe"]["delta"], warnings)
    repeats = {"a": len({r.get("repeat") or 0 for r in pa}), "b": len({r.get("repeat") or 0 for r in pb})}
    tags_of: dict[str, list[str]] = {}
    for row in pa:
        tags_of.setdefault(row["case_id"], row.get("tags") or [])

    return {
        "a": refs[0],
        "b": refs[1],
        "n_paired": len(paired),
        "provenance": provenance,
        "metrics": metrics,
        "mcnemar": mcnemar,
        "flips": correctness["flips"],
        "per_class": _per_class(sa, sb, labels),
        "confusion_shifts": _confusion_shifts(sa, sb),
        "by_tag": _by_tag(sa, sb, correctness["flips"], tags_of),
        "latency_ms": {
            "p50": _pair(sa["latency_ms"]["p50"], sb["latency_ms"]["p50"]),
            "p95": _pair(sa["latency_ms"]["p95"], sb["latency_ms"]["p95"]),
        },
        "tokens": {
            "input_mean": _pair(sa["tokens"]["input_mean"], sb["tokens"]["input_mean"]),
            "output_mean": _pair(sa["tokens"]["output_mean"], sb["tokens"]["output_mean"]),
        },
        "cost_usd": _costs(sa, sb, warnings, refs),
        "warnings": warnings,
        "unmatched": {"only_a": only_a, "only_b": only_b},
        "mde": mde,
        "repeats": repeats,
        "errors": {"a": sa["errors"], "b": sb["errors"]},
        **({"self_consistency": _self_consistency(pa, pb, paired)} if repeats["a"] > 1 or repeats["b"] > 1 else {}),
        "fields": _field_comparisons(pa, pb, run_b.fields, paired, seed=seed, n_boot=n_boot),
        "bootstrap": {
            "seed": seed,
            "n_boot": n_boot,
            "resamples": "cases (a case's repeats stay together), same indices for A and B",
        },
    }
