"""How evalkit's intervals and gate behave on the suites it exists for: 30 to 100 cases.

    .venv/bin/python benchmarks/coverage.py [--suites 2000] [--n 30 46 100] [--seed 15] [--out FILE]

Simulated suites (seeded) of 12 labels, routes A (the baseline) and B (the candidate).
70 % of the cases are easy: each route is right with probability 0.97. On a hard case each
route is right with its own probability (a case-level Beta draw around the route's mean, so
repeats of a case are correlated). A wrong answer is a neighbouring label 60 % of the time,
another label 30 %, unparsed 7 % and an error row 3 %. The true values (accuracy, parse rate,
kappa, macro-F1 and their differences) are those of the population confusion matrix.

Each cell (n, true accuracy difference B - A of -5, 0 or +15 points) runs `--suites` suites
through the public API: `compare.compare` (each side's intervals, which are those of
`metrics.summarize_route`, and the paired ones, measured in the 0 and +15 point cells) and
`gate.baseline_checks` on that comparison (the decisions of three policies;
`gate.evaluate_gate` makes the same checks). It
prints, for every interval, the share of suites whose interval holds the true value, and
for every policy the share of suites it approves. A last cell measures the accuracy
interval with three repeats per case at temperature above 0. `coverage_table()` is the
same measurement for the tests, on fewer suites.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from evalkit.compare import compare  # noqa: E402
from evalkit.gate import baseline_checks, evaluate_gate  # noqa: E402
from evalkit.metrics import summarize_route  # noqa: E402
from evalkit.store import Run  # noqa: E402

K = 12
LABELS = [f"label_{i:02d}" for i in range(K)]
EASY_SHARE, EASY_RIGHT = 0.70, 0.97
WRONG = {"neighbour": 0.60, "other": 0.30, "unparsed": 0.07, "error": 0.03}
HARD_A = 0.30
HARD_CONCENTRATION = 2.0  # Beta(mean * c, (1 - mean) * c) per hard case
DELTAS = (-0.05, 0.0, 0.15)
N_BOOT = 1000
GATE_ONLY_N_BOOT = 20
COVERAGE_DELTAS = (0.0, 0.15)  # the cells whose intervals are measured: equal routes, and B 15 points better

POLICIES = {
    "require_significant_improvement (alpha 0.05, one-sided exact)":
        {"baseline": "a", "require_significant_improvement": True, "alpha": 0.05},
    "max_drop accuracy 0.0, drop_on ci95 (default)": {"baseline": "a", "max_drop": {"accuracy": 0.0}},
    "max_drop accuracy 0.0, drop_on point": {"baseline": "a", "max_drop": {"accuracy": 0.0}, "drop_on": "point"},
}
INTERVALS = {
    "accuracy (Wilson)": ("side", "accuracy"),
    "parse rate (Wilson)": ("side", "parse_rate"),
    "kappa (bootstrap)": ("side", "kappa"),
    "macro-F1 (bootstrap)": ("side", "macro_f1"),
    "paired accuracy difference (Newcombe)": ("paired", "newcombe"),
    "paired accuracy difference (bootstrap)": ("paired", "accuracy"),
    "paired kappa difference (bootstrap)": ("paired", "kappa"),
    "paired macro-F1 difference (bootstrap)": ("paired", "macro_f1"),
}


def hard_mean_b(delta: float) -> float:
    """B's mean on hard cases for a true accuracy difference of delta."""
    return HARD_A + delta / (1.0 - EASY_SHARE)


def accuracy_of(hard: float) -> float:
    return EASY_SHARE * EASY_RIGHT + (1.0 - EASY_SHARE) * hard


def population_confusion(accuracy: float) -> np.ndarray:
    """Expected (K, K + 2) confusion shares: expected label x (labels, unparsed, error)."""
    conf = np.zeros((K, K + 2))
    wrong = 1.0 - accuracy
    for i in range(K):
        conf[i, i] = accuracy
        for j in ((i - 1) % K, (i + 1) % K):
            conf[i, j] += wrong * WRONG["neighbour"] / 2
        others = [j for j in range(K) if j not in (i, (i - 1) % K, (i + 1) % K)]
        for j in others:
            conf[i, j] += wrong * WRONG["other"] / len(others)
        conf[i, K] = wrong * WRONG["unparsed"]
        conf[i, K + 1] = wrong * WRONG["error"]
    return conf / K


def true_values(accuracy: float) -> dict[str, float]:
    conf = population_confusion(accuracy)
    square = np.zeros((K + 2, K + 2))
    square[:K, :] = conf
    observed = np.trace(square)
    chance = float((square.sum(axis=1) * square.sum(axis=0)).sum())
    tp = np.diag(square)[:K]
    f1 = 2 * tp / (square[:K, :].sum(axis=1) + square[:, :K].sum(axis=0))
    wrong = 1.0 - accuracy
    return {"accuracy": accuracy, "kappa": (observed - chance) / (1 - chance), "macro_f1": float(f1.mean()),
            "parse_rate": 1.0 - wrong * WRONG["unparsed"] / (1.0 - wrong * WRONG["error"])}


def _wrong_answer(rng: np.random.Generator, expected: int) -> str | None:
    """A wrong answer: a label, "" for unparsed, None for an error."""
    kind = rng.choice(4, p=[WRONG["neighbour"], WRONG["other"], WRONG["unparsed"], WRONG["error"]])
    if kind == 0:
        return LABELS[(expected + rng.choice([-1, 1])) % K]
    if kind == 1:
        others = [j for j in range(K) if j not in (expected, (expected - 1) % K, (expected + 1) % K)]
        return LABELS[int(rng.choice(others))]
    return "" if kind == 2 else None


def _row(case_id: str, route: str, repeat: int, expected: str, answer: str | None) -> dict[str, Any]:
    row = {"case_id": case_id, "route": route, "repeat": repeat, "expected_label": expected, "tags": [],
           "latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1, "cost_usd": None}
    if answer is None:
        return {**row, "error": {"type": "simulated"}, "parsed_ok": False, "predicted_label": None, "correct": False}
    parsed = answer != ""
    return {**row, "error": None, "parsed_ok": parsed, "predicted_label": answer if parsed else None,
            "correct": answer == expected}


def simulate_rows(rng: np.random.Generator, n: int, delta: float, repeats: int = 1) -> list[dict[str, Any]]:
    """The result rows of routes a and b on n simulated cases."""
    rows = []
    means = {"a": HARD_A, "b": hard_mean_b(delta)}
    for case in range(n):
        case_id, expected = f"c{case:03d}", int(rng.integers(K))
        hard = rng.random() >= EASY_SHARE
        for route, mean in means.items():
            right = rng.beta(mean * HARD_CONCENTRATION, (1 - mean) * HARD_CONCENTRATION) if hard else EASY_RIGHT
            for repeat in range(repeats):
                answer = LABELS[expected] if rng.random() < right else _wrong_answer(rng, expected)
                rows.append(_row(case_id, route, repeat, LABELS[expected], answer))
    return rows


def as_run(rows: list[dict[str, Any]]) -> Run:
    manifest = {"status": "complete", "suite": {"name": "simulated", "spec": {"task": {"labels": LABELS}}},
                "routes": {"a": {"model": "sim-a"}, "b": {"model": "sim-b"}}, "cases_sha256": "sim"}
    return Run(dir=Path("simulated"), manifest=manifest, rows=rows)


def _covers(ci, truth: float) -> bool | None:
    return None if ci is None else ci[0] - 1e-12 <= truth <= ci[1] + 1e-12


def measure_cell(n: int, delta: float, suites: int, seed: int, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Coverage of every interval and approvals of every policy on `suites` suites of n cases."""
    rng = np.random.default_rng([seed, n, int(round(delta * 1000)) + 1000])
    truth_a, truth_b = true_values(accuracy_of(HARD_A)), true_values(accuracy_of(hard_mean_b(delta)))
    hits: dict[str, list[bool]] = {name: [] for name in INTERVALS}
    approvals: dict[str, list[bool]] = {name: [] for name in POLICIES}
    for _ in range(suites):
        run = as_run(simulate_rows(rng, n, delta))
        if delta not in COVERAGE_DELTAS:  # the gate's decisions need no bootstrap: a few resamples keep compare quick
            comparison = compare(run, "a", run, "b", n_boot=GATE_ONLY_N_BOOT)
        else:
            comparison = compare(run, "a", run, "b", n_boot=n_boot)
            for name, (kind, metric) in INTERVALS.items():
                if kind == "side":  # each side's interval as summarize_route gives it, over the paired cases
                    hits[name] += [_covers(comparison["metrics"][metric][f"ci95_{side}"], truth[metric])
                                   for side, truth in (("a", truth_a), ("b", truth_b))]
                else:
                    key = "accuracy" if metric == "newcombe" else metric
                    entry = comparison["metrics"][key]
                    hits[name].append(_covers(entry["newcombe"]["ci95"] if metric == "newcombe" else entry["ci95"],
                                              truth_b[key] - truth_a[key]))
        for name, policy in POLICIES.items():
            approvals[name].append(all(check.passed for check in baseline_checks(policy, comparison)))
    return {"n": n, "delta": delta, "suites": suites,
            "coverage": {name: float(np.mean([h for h in v if h is not None])) if any(h is not None for h in v) else None
                         for name, v in hits.items()},
            "approval": {name: float(np.mean(v)) for name, v in approvals.items()}}


def measure_repeats(n: int, suites: int, seed: int, repeats: int = 3) -> float:
    """Coverage of the per-call accuracy interval with `repeats` calls per case."""
    rng = np.random.default_rng([seed, n, repeats])
    truth = accuracy_of(HARD_A)
    hits = []
    for _ in range(suites):
        rows = [r for r in simulate_rows(rng, n, 0.0, repeats=repeats) if r["route"] == "a"]
        summary = summarize_route(rows, LABELS, n_boot=20)
        assert summary["accuracy"]["n"] == n
        hits.append(_covers(summary["accuracy"]["ci95"], truth))
    return float(np.mean(hits))


def coverage_table(ns=(30, 46, 100), suites: int = 2000, seed: int = 15, n_boot: int = N_BOOT) -> dict[str, Any]:
    cells = [measure_cell(n, delta, suites, seed, n_boot) for n in ns for delta in DELTAS]
    repeats = {n: measure_repeats(n, suites, seed) for n in ns}
    return {"cells": cells, "repeats": repeats, "suites": suites, "seed": seed, "n_boot": n_boot, "ns": list(ns)}


def render(table: dict[str, Any]) -> str:
    ns = table["ns"]
    by = {(c["n"], c["delta"]): c for c in table["cells"]}
    lines = [f"Coverage of the 95% intervals (target 0.95; {table['suites']} simulated suites per cell, seed "
             f"{table['seed']}, {table['n_boot']} bootstrap resamples; pooled over the cells of equal routes and of B 15 points "
             "better, each route's intervals on both routes, so accuracies of 0.77 and 0.92; bootstrap = BCa widened to the "
             "jackknife, over cases):", "",
             "| interval | " + " | ".join(f"n={n}" for n in ns) + " |", "|---|" + "---:|" * len(ns)]
    for name in INTERVALS:
        values = []
        for n in ns:
            cells = [by[(n, d)]["coverage"][name] for d in COVERAGE_DELTAS]
            values.append("n/a" if None in cells else f"{np.mean(cells):.3f}")
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    lines.append("| accuracy with 3 repeats per case (case-clustered Wilson) | "
                 + " | ".join(f"{table['repeats'][n]:.3f}" for n in ns) + " |")
    lines += ["", "Share of suites the gate approves, by the candidate's true accuracy difference:", "",
              "| policy | " + " | ".join(f"n={n}: {d * 100:+.0f} pts" for n in ns for d in DELTAS) + " |",
              "|---|" + "---:|" * (len(ns) * len(DELTAS))]
    for name in POLICIES:
        lines.append(f"| {name} | " + " | ".join(f"{by[(n, d)]['approval'][name]:.3f}" for n in ns for d in DELTAS) + " |")
    return "\n".join(lines) + "\n"


def merge(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """One table from measurements of disjoint n made with the same settings."""
    first = tables[0]
    if any((t["suites"], t["seed"], t["n_boot"]) != (first["suites"], first["seed"], first["n_boot"]) for t in tables):
        raise SystemExit("coverage.py --merge: the measurements were made with different --suites, --seed or --n-boot")
    ns = sorted(n for t in tables for n in t["ns"])
    return {**first, "ns": ns, "cells": [c for t in tables for c in t["cells"]],
            "repeats": {int(n): v for t in tables for n, v in t["repeats"].items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", type=int, default=2000, help="simulated suites per cell (default 2000)")
    parser.add_argument("--n", type=int, nargs="+", default=[30, 46, 100], help="cases per suite (default 30 46 100)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--n-boot", type=int, default=N_BOOT, help=f"bootstrap resamples per interval (default {N_BOOT})")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--save", type=Path, metavar="JSON", help="also write the measurements as JSON")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="render saved measurements (say, of --n 30 46 and --n 100 run apart) as one table")
    args = parser.parse_args(argv)
    started = time.time()
    if args.merge:
        table = merge([json.loads(path.read_text(encoding="utf-8")) for path in args.merge])
    else:
        table = coverage_table(tuple(args.n), args.suites, args.seed, args.n_boot)
    if args.save:
        args.save.write_text(json.dumps(table, indent=1), encoding="utf-8")
    text = render(table)
    text += f"\n({time.time() - started:.0f} s)\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
