"""Compare two routes case by case (docs/ci.md, section 1): a pure function of two runs.

Rows are paired by case id; a case's repeats are one cluster. Correctness for McNemar,
the flips and the Newcombe interval is the case's majority vote (evalkit.repeats); the
paired bootstrap resamples cases, never rows, drawing the same case indices for A and B.
Each side's metric values are computed over the paired cases only, with the same
functions as summary.json (`metrics.summarize_route`). Deltas are B minus A.
"""

from __future__ import annotations

from typing import Any

from evalkit.errors import BadInput
from evalkit.metrics import N_BOOT, summarize_route
from evalkit.provenance import describe, run_provenance
from evalkit.repeats import majority_correct
from evalkit.store import Run

METRICS = ("accuracy", "parse_rate", "kappa", "macro_f1")
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


def _listed(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# -- the paired bootstrap, vectorised over resamples --

def _rates(conf, n_labels: int) -> dict[str, Any]:
    """Each metric of a (B, K, K) stack of confusion matrices; nan where undefined."""
    import numpy as np

    from evalkit.metrics import kappa_from_confusions, macro_f1_from_confusions

    total = conf.sum(axis=(1, 2)).astype(float)
    correct = np.trace(conf, axis1=1, axis2=2)
    parsed = conf[:, :, :n_labels].sum(axis=(1, 2))
    with_output = total - conf[:, :, n_labels + 1].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": np.where(total > 0, correct / total, np.nan),
            "parse_rate": np.where(with_output > 0, parsed / with_output, np.nan),
            "kappa": kappa_from_confusions(conf),
            "macro_f1": macro_f1_from_confusions(conf, n_labels),
        }


def paired_bootstrap_deltas(rows_a, rows_b, labels: list[str], *, seed: int = 0, n_boot: int = N_BOOT) -> dict[str, list[float] | None]:
    """95% percentile intervals of B - A for each metric, resampling the paired cases.

    `rows_a` and `rows_b` hold the same cases in the same order (see `_in_order`). Both
    sides get the very same resampled case indices. A resample where a metric is
    undefined on either side is skipped; with more than half skipped the interval is None.
    """
    import numpy as np

    from evalkit.metrics import case_resamples, cluster_confusions, interval, resampled_confusions

    per_case_a, k = cluster_confusions(rows_a, labels)
    per_case_b, _ = cluster_confusions(rows_b, labels)
    deltas: dict[str, list] = {m: [] for m in METRICS}
    for multiplicity in case_resamples(per_case_a.shape[0], n_boot=n_boot, seed=seed):
        side_a = _rates(resampled_confusions(per_case_a, k, multiplicity), len(labels))
        side_b = _rates(resampled_confusions(per_case_b, k, multiplicity), len(labels))
        for metric in METRICS:
            deltas[metric].append(side_b[metric] - side_a[metric])
    result = {}
    for metric, chunks in deltas.items():
        values = np.concatenate(chunks)
        result[metric] = interval(values)
    return result


# -- the parts of the comparison --

def _metric_entries(sa, sb, cis, n_paired: int) -> dict[str, dict[str, Any]]:
    entries = {}
    for metric in METRICS:
        a, b = sa[metric]["value"], sb[metric]["value"]
        entry = {**_pair(a, b), "ci95": cis[metric] if a is not None and b is not None else None, "n": n_paired}
        reasons = [f"{side}: {s[metric]['reason']}" for side, s in (("a", sa), ("b", sb)) if s[metric].get("reason")]
        if reasons:
            entry["reason"] = "; ".join(reasons)
        elif entry["delta"] is None:
            entry["reason"] = "undefined on one side"
        entries[metric] = entry
    return entries


def _correctness(correct_a: dict[str, bool], correct_b: dict[str, bool], ids: list[str]) -> dict[str, Any]:
    from evalkit.stats import mcnemar, newcombe_paired_interval

    fixed = [i for i in ids if correct_b[i] and not correct_a[i]]
    broken = [i for i in ids if correct_a[i] and not correct_b[i]]
    both = sum(1 for i in ids if correct_a[i] and correct_b[i])
    neither = len(ids) - both - len(fixed) - len(broken)
    ci = newcombe_paired_interval(both, len(broken), len(fixed), neither)
    return {
        "mcnemar": {**mcnemar(len(broken), len(fixed)), "n": len(ids), "on": "majority-vote correctness per case"},
        "flips": {"fixed": fixed, "broken": broken},
        "newcombe": {"delta": (len(fixed) - len(broken)) / len(ids), "ci95": list(ci) if ci else None,
                     "n": len(ids), "table": {"both": both, "only_a": len(broken), "only_b": len(fixed), "neither": neither},
                     "on": "majority-vote correctness per case"},
    }


def _mde(n: int, b: int, c: int, warnings: list[str]) -> dict[str, Any]:
    from evalkit.stats import min_detectable_difference

    p_discordant = (b + c) / n
    mde = min_detectable_difference(n, p_discordant or None, alpha=ALPHA, power=POWER)
    observed = (c - b) / n
    if mde is None:
        warnings.append(f"with {n} paired cases and {p_discordant:.0%} discordant pairs, no accuracy difference is "
                        f"detectable at {POWER:.0%} power (alpha {ALPHA}): the suite is too small to tell these routes apart")
    elif abs(observed) < mde:
        warnings.append(f"with {n} paired cases the smallest accuracy difference detectable at {POWER:.0%} power "
                        f"(alpha {ALPHA}, {p_discordant:.0%} discordant pairs) is {mde:.3f}; the observed "
                        f"{observed:+.3f} is below it, so 'no significant difference' is not evidence of no difference")
    return {"value": mde, "observed": observed, "n": n, "p_discordant": p_discordant,
            "alpha": ALPHA, "power": POWER}


def _per_class(sa, sb, labels: list[str]) -> dict[str, dict[str, Any]]:
    result = {}
    for label in labels:
        ca, cb = sa["per_class"].get(label), sb["per_class"].get(label)
        result[label] = {**_pair(ca and ca["f1"], cb and cb["f1"]), "support": (ca or cb or {}).get("support", 0)}
    return result


def _confusion_shifts(sa, sb) -> list[dict[str, Any]]:
    """Off-diagonal (expected, predicted) cells whose row count changed, largest change first."""
    conf_a, conf_b = sa["confusion"], sb["confusion"]
    shifts = []
    for i, expected in enumerate(conf_a["labels"]):
        for j, predicted in enumerate(conf_a["columns"]):
            a, b = conf_a["matrix"][i][j], conf_b["matrix"][i][j]
            if expected != predicted and a != b:
                shifts.append({"expected": expected, "predicted": predicted, "a": a, "b": b, "delta": b - a})
    return sorted(shifts, key=lambda s: (-abs(s["delta"]), s["expected"], s["predicted"]))


def _by_tag(sa, sb, flips: dict[str, list[str]], tags_of: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
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


def _costs(sa, sb, warnings: list[str], refs: tuple[str, str]) -> dict[str, Any]:
    for side, s, ref in (("A", sa, refs[0]), ("B", sb, refs[1])):
        if s["cost_usd"] is None:
            warnings.append(f"the cost of {side} ({ref}) is unknown: no price for its model, or rows without token counts")
    ca, cb = sa["cost_usd"] or {}, sb["cost_usd"] or {}
    return {"per_1k": _pair(ca.get("per_1k"), cb.get("per_1k")), "total": _pair(ca.get("total"), cb.get("total"))}


def _labels(run_a: Run, run_b: Run) -> list[str]:
    labels_a, labels_b = run_a.labels, run_b.labels
    if set(labels_a) != set(labels_b):
        only = sorted(set(labels_a) ^ set(labels_b))
        raise BadInput(f"the two runs have different label sets (differing: {', '.join(only)}): their metrics do not compare")
    return list(labels_a)


def _side_warnings(run: Run, rows, side: str, ref: str, warnings: list[str]) -> None:
    status = run.manifest.get("status")
    if status not in (None, "complete"):
        warnings.append(f"run {side} ({ref}) is {status}: cases may be missing")
    errors = sum(1 for r in rows if r.get("error"))
    if errors:
        warnings.append(f"{side} ({ref}) has {errors} error row{'s' if errors > 1 else ''} (no output): they count as wrong")


def compare(run_a: Run, route_a: str, run_b: Run, route_b: str, *, seed: int = 0, n_boot: int = N_BOOT,
            refs: tuple[str, str] | None = None) -> dict[str, Any]:
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
        warnings.append(f"{len(only_a) + len(only_b)} case ids are not in both sides and are left out of every figure: "
                        + "; ".join(part for part in (only_a and f"only in A: {_listed(only_a)}",
                                                      only_b and f"only in B: {_listed(only_b)}") if part))
    if run_a.dir != run_b.dir and run_a.manifest.get("cases_sha256") != run_b.manifest.get("cases_sha256"):
        warnings.append("the two runs were made from different case files: check that the cases still mean the same")
    order = {case_id: i for i, case_id in enumerate(paired)}
    pa, pb = _in_order(rows_a, order), _in_order(rows_b, order)
    gold_a = {r["case_id"]: r["expected_label"] for r in pa}
    gold_b = {r["case_id"]: r["expected_label"] for r in pb}
    relabelled = [i for i in paired if gold_a[i] != gold_b[i]]
    if relabelled:
        warnings.append(f"the expected label differs between the runs for {_listed(relabelled)}: each side is graded against its own")
    _side_warnings(run_a, pa, "A", refs[0], warnings)
    _side_warnings(run_b, pb, "B", refs[1], warnings)
    provenance = {"a": run_provenance(run_a.manifest, rows_a)[route_a], "b": run_provenance(run_b.manifest, rows_b)[route_b]}
    for side, ref in (("a", refs[0]), ("b", refs[1])):
        if not provenance[side]["evidence"]:
            warnings.append(f"{side.upper()} ({ref}) answers are {describe(provenance[side])}: not evidence about its configured model")

    sa = summarize_route(pa, labels, seed=seed, n_boot=n_boot)
    sb = summarize_route(pb, labels, seed=seed, n_boot=n_boot)
    cis = paired_bootstrap_deltas(pa, pb, labels, seed=seed, n_boot=n_boot)
    correctness = _correctness(majority_correct(pa), majority_correct(pb), paired)
    metrics = _metric_entries(sa, sb, cis, len(paired))
    metrics["accuracy"]["newcombe"] = correctness["newcombe"]
    mcnemar = correctness["mcnemar"]
    mde = _mde(len(paired), mcnemar["b"], mcnemar["c"], warnings)
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
        "latency_ms": {"p50": _pair(sa["latency_ms"]["p50"], sb["latency_ms"]["p50"]),
                       "p95": _pair(sa["latency_ms"]["p95"], sb["latency_ms"]["p95"])},
        "tokens": {"input_mean": _pair(sa["tokens"]["input_mean"], sb["tokens"]["input_mean"]),
                   "output_mean": _pair(sa["tokens"]["output_mean"], sb["tokens"]["output_mean"])},
        "cost_usd": _costs(sa, sb, warnings, refs),
        "warnings": warnings,
        "unmatched": {"only_a": only_a, "only_b": only_b},
        "mde": mde,
        "repeats": {"a": len({r.get("repeat") or 0 for r in pa}), "b": len({r.get("repeat") or 0 for r in pb})},
        "errors": {"a": sa["errors"], "b": sb["errors"]},
        "bootstrap": {"seed": seed, "n_boot": n_boot, "resamples": "cases (a case's repeats stay together), same indices for A and B"},
    }
