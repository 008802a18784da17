"""Small, pure statistics helpers for comparing eval routes.

Everything here is a function of counts or labels: no I/O,
no global state. scipy is imported inside the functions that need it, so importing this
module costs only numpy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "wilson_interval",
    "mcnemar",
    "newcombe_paired_interval",
    "cohen_kappa",
    "min_detectable_difference",
    "percentile",
    "bca_interval",
    "bootstrap_interval",
    "jackknife_se",
    "clustered_rate",
    "paired_sign_flip",
    "one_sided_exact_p",
    "significance_power",
    "smallest_detectable_difference",
    "newcombe_arrays",
    "approval_probability",
    "newcombe_half_width",
    "conditional_false_approval",
]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile for a confidence level."""
    _check_confidence(confidence)
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # The limits are exactly 0 and 1 at the boundaries; do not let rounding say otherwise.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for successes/n (no continuity correction); None when n == 0."""
    _check_count("successes", successes)
    _check_count("n", n)
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    z = _z(confidence)
    if n == 0:
        return None
    return _wilson(successes, n, z)


def mcnemar(b: int, c: int) -> dict[str, Any]:
    """Exact (conditional) and mid-p McNemar tests on the discordant counts b and c.

    With X ~ Binomial(b + c, 1/2) and m = min(b, c):
    p_exact = min(1, 2 P(X <= m)) and p_midp = min(1, 2 P(X <= m) - P(X = m)).
    Both are 1.0 when b == c (including b + c == 0). Note: Fagerland et al. (2013)
    define the mid-p for b == c as 1 - P(X = m)/2; this function reports 1.0 there.
    """
    _check_count("b", b)
    _check_count("c", c)
    b, c = int(b), int(c)
    if b == c:
        return {"b": b, "c": c, "p_exact": 1.0, "p_midp": 1.0}
    from scipy.stats import binom

    total, m = b + c, min(b, c)
    cdf = float(binom.cdf(m, total, 0.5))
    pmf = float(binom.pmf(m, total, 0.5))
    return {
        "b": b,
        "c": c,
        "p_exact": min(1.0, 2.0 * cdf),
        "p_midp": min(1.0, 2.0 * cdf - pmf),
    }


def newcombe_paired_interval(
    both: int, only_a: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Newcombe (1998) method 10 interval for p_b - p_a on paired binary outcomes.

    Sign convention: the interval is for the change from A to B, estimated by
    (only_b - only_a) / n, so a positive interval means B is correct more often.
    ``only_a`` counts pairs where A is right and B wrong; ``only_b`` the reverse.
    In Newcombe's table (e, f, g, h) with theta = (f - g) / n, B is the first
    classification: e = both, f = only_b, g = only_a, h = neither.
    Returns None when there are no pairs.
    """
    for name, value in (("both", both), ("only_a", only_a), ("only_b", only_b), ("neither", neither)):
        _check_count(name, value)
    z = _z(confidence)
    e, f, g, h = int(both), int(only_b), int(only_a), int(neither)
    n = e + f + g + h
    if n == 0:
        return None

    p1 = (e + f) / n  # accuracy of B
    p2 = (e + g) / n  # accuracy of A
    theta = p1 - p2
    l1, u1 = _wilson(e + f, n, z)
    l2, u2 = _wilson(e + g, n, z)

    # Phi with Newcombe's continuity correction of the numerator.
    marginals = (e + f) * (g + h) * (e + g) * (f + h)
    phi = 0.0
    if marginals > 0:
        cross = e * h - f * g
        if cross > n / 2:
            numerator = cross - n / 2
        elif cross >= 0:
            numerator = 0.0
        else:
            numerator = float(cross)
        phi = numerator / math.sqrt(marginals)

    lower_sq = (p1 - l1) ** 2 - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    upper_sq = (u1 - p1) ** 2 - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    lower = theta - math.sqrt(max(lower_sq, 0.0))
    upper = theta + math.sqrt(max(upper_sq, 0.0))
    return max(-1.0, lower), min(1.0, upper)


def cohen_kappa(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> tuple[float | None, str | None]:
    """Cohen's kappa as (value, reason); value is None with a reason when undefined.

    Rows whose truth or prediction is outside ``labels`` are ignored, as in
    scikit-learn. Kappa is undefined when there are no rows or when chance agreement
    is 1, which happens only when truth and prediction are one and the same class.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    truth, pred = list(y_true), list(y_pred)
    if labels is not None:
        keep = set(labels)
        rows = [(t, p) for t, p in zip(truth, pred) if t in keep and p in keep]
        truth = [t for t, _ in rows]
        pred = [p for _, p in rows]
    if not truth:
        return None, "no rows"
    if len(set(truth) | set(pred)) == 1:
        return None, "undefined: only one class among expected and predicted labels"

    # scikit-learn's cohen_kappa_score, without its import cost: 1 - observed / chance disagreement
    classes = {c: i for i, c in enumerate(sorted(set(truth) | set(pred)))}
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, ([classes[t] for t in truth], [classes[p] for p in pred]), 1)
    chance = np.outer(confusion.sum(axis=0), confusion.sum(axis=1)) / confusion.sum()
    off_diagonal = 1 - np.eye(len(classes))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(1 - (off_diagonal * confusion).sum() / (off_diagonal * chance).sum())
    if not math.isfinite(value):
        return None, "undefined: chance agreement is 1"
    return value, None


# Used when the caller does not know the discordant proportion: the detectable
# difference grows with psi, so psi = 1 (every pair discordant) is the worst case.
WORST_CASE_DISCORDANT = 1.0


def min_detectable_difference(
    n: int,
    p_discordant: float | None = None,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
) -> float | None:
    """Smallest paired accuracy difference McNemar's test detects on n pairs.

    Solves Connor's (1987) sample-size approximation
    n = [z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - delta^2)]^2 / delta^2
    for delta (two-sided alpha), with psi the proportion of discordant pairs.
    psi None or 0 falls back to the worst case psi = 1, giving an upper bound.
    Returns None for n == 0, or when no difference of at most psi (the largest
    possible given psi) reaches the requested power.
    """
    _check_count("n", n)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    if p_discordant is not None and not 0.0 <= p_discordant <= 1.0:
        raise ValueError(f"p_discordant must be in [0, 1], got {p_discordant!r}")
    if n == 0:
        return None
    psi = WORST_CASE_DISCORDANT if not p_discordant else float(p_discordant)

    normal = NormalDist()
    z_a = normal.inv_cdf(1.0 - alpha / 2.0)
    z_b = normal.inv_cdf(power)
    # Squaring n*delta^2 = (z_a sqrt(psi) + z_b sqrt(psi - delta^2))^2 gives a quadratic
    # in delta whose relevant root is the expression below.
    inner = n - z_a * z_a + z_b * z_b
    if inner < 0:
        return None
    delta = math.sqrt(psi) * (z_a * math.sqrt(n) + z_b * math.sqrt(inner)) / (n + z_b * z_b)
    if delta > psi:
        return None
    return delta


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (q in 0..100), linear interpolation; None for empty input."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


# -- bias-corrected and accelerated (BCa) bootstrap intervals --


def bca_interval(estimate: float | None, boot: Any, jackknife: Any, confidence: float = 0.95) -> list[float] | None:
    """Efron's BCa interval from bootstrap replicates and leave-one-cluster-out (jackknife) values.

    The bias correction z0 counts ties with the estimate as half below, so a statistic with
    few distinct values (kappa or macro-F1 on 30 cases) is not pushed off its estimate; the
    acceleration comes from the jackknife's skewness. The limits are then clamped so the
    interval always contains its estimate. None when the estimate is undefined, or when the
    statistic was undefined (NaN) in more than half of the resamples.
    """
    z = _z(confidence)
    if estimate is None or not math.isfinite(estimate):
        return None
    boot = np.asarray(boot, dtype=float)
    defined = boot[~np.isnan(boot)]
    if boot.size == 0 or defined.size * 2 < boot.size:
        return None
    below = np.count_nonzero(defined < estimate) + 0.5 * np.count_nonzero(defined == estimate)
    share = min(max(below / defined.size, 1.0 / (defined.size + 1)), defined.size / (defined.size + 1))
    normal = NormalDist()
    z0 = normal.inv_cdf(share)
    jack = np.asarray(jackknife, dtype=float)
    jack = jack[~np.isnan(jack)]
    accel = 0.0
    if jack.size >= 3:
        spread = jack.mean() - jack
        denom = float((spread**2).sum()) ** 1.5
        accel = float((spread**3).sum()) / (6.0 * denom) if denom > 0 else 0.0
    limits = []
    for zq in (-z, z):
        shifted = z0 + zq
        corrected = (
            z0 + shifted / (1.0 - accel * shifted) if 1.0 - accel * shifted > 0 else (math.inf if zq > 0 else -math.inf)
        )
        limits.append(normal.cdf(corrected) if math.isfinite(corrected) else (1.0 if corrected > 0 else 0.0))
    low, high = np.quantile(defined, limits)
    return [float(min(low, estimate)), float(max(high, estimate))]


def jackknife_se(jackknife: Any) -> float | None:
    """The jackknife standard error from leave-one-cluster-out values; None with fewer than 2."""
    jack = np.asarray(jackknife, dtype=float)
    jack = jack[~np.isnan(jack)]
    m = jack.size
    if m < 2:
        return None
    return float(math.sqrt((m - 1) / m * float(((jack - jack.mean()) ** 2).sum())))


def bootstrap_interval(
    estimate: float | None,
    boot: Any,
    jackknife: Any,
    confidence: float = 0.95,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> list[float] | None:
    """The interval evalkit reports for kappa, macro-F1, per-label F1 and their paired differences:
    the BCa interval (bca_interval), widened where needed to the jackknife normal interval
    estimate +/- z * jackknife SE, and clipped to the statistic's range `bounds`.

    Why the widening: on 30 to 50 cases a label has a handful of cases, and resampling the
    observed cases can never produce a confusion the sample did not show, so the bootstrap
    understates the spread of macro-F1 (BCa alone covered about 0.90 in benchmarks/coverage.py).
    The jackknife variance is biased upwards (Efron and Stein, 1981), so the union errs on the
    side of coverage while keeping BCa's asymmetry. The interval always contains its estimate.
    """
    bca = bca_interval(estimate, boot, jackknife, confidence)
    if bca is None or estimate is None:
        return None
    se = jackknife_se(jackknife)
    low, high = bca
    if se is not None:
        z = _z(confidence)
        low, high = min(low, estimate - z * se), max(high, estimate + z * se)
    return [float(max(low, bounds[0])), float(min(high, bounds[1]))]


# -- clustered rates: per-call means with a case-clustered interval --


def clustered_rate(successes: Any, trials: Any, confidence: float = 0.95) -> dict[str, Any]:
    """A per-call rate over cases that each have one or more calls, with a Wilson interval
    at the effective number of calls (Kish's design effect from the case-level variance).

    `successes[i]` of `trials[i]` calls of case i succeeded; cases with no trial are left out.
    The rate is sum(successes) / sum(trials). Its variance is the linearised (ratio) variance
    over cases, so repeats of a case are never counted as independent: the effective n lies
    between the number of cases and the number of calls, and with one call per case it is
    exactly the number of cases (the interval is then Wilson's). n is the number of cases.
    """
    _check_confidence(confidence)
    s = np.asarray(successes, dtype=float)
    t = np.asarray(trials, dtype=float)
    keep = t > 0
    s, t = s[keep], t[keep]
    n = int(s.size)
    if n == 0:
        return {"value": None, "ci95": None, "n": 0}
    p = float(s.sum() / t.sum())
    calls = float(t.sum())
    if np.all(t == 1):
        n_eff = float(n)
    else:
        mean_t = calls / n
        variance = float(((s - p * t) ** 2).sum()) / (n * n * mean_t * mean_t)
        n_eff = calls if variance <= 0 else min(calls, max(float(n), p * (1.0 - p) / variance))
    low, high = _wilson(p * n_eff, n_eff, _z(confidence))  # type: ignore[arg-type]  # a fractional n is fine
    return {"value": p, "ci95": [low, high], "n": n}


# -- the paired test on per-call correctness, and its operating characteristics --


def _lcm(values: Any) -> int:
    result = 1
    for value in values:
        result = result * int(value) // math.gcd(result, int(value))
    return result


def paired_sign_flip(correct_a: Any, calls_a: Any, correct_b: Any, calls_b: Any) -> dict[str, Any]:
    """Exact paired randomisation (sign-flip) test of per-call accuracy, paired by case.

    Case i has d_i = correct_b[i]/calls_b[i] - correct_a[i]/calls_a[i]. Under the null
    hypothesis that A and B are exchangeable within each case, every d_i is as likely to
    carry its sign as the opposite one; the test enumerates all 2^n sign patterns exactly
    (by convolution, over the common denominator of the calls). With one call per case
    d_i is -1, 0 or +1 and the test is McNemar's exact test: the number of cases B fixed
    among the discordant ones is Binomial(b + c, 1/2).

    Returns the statistic (sum of d_i over n), `p_greater` = P(T >= t) (B better, the
    gate's one-sided p), `p_less` = P(T <= t), `p_exact` = min(1, 2 min of those),
    and `p_midp` = p_exact - P(T = t) (1.0 when the statistic is 0).
    """
    ca, na, cb, nb = (np.asarray(v, dtype=np.int64) for v in (correct_a, calls_a, correct_b, calls_b))
    if not (ca.shape == na.shape == cb.shape == nb.shape) or ca.size == 0:
        raise ValueError("paired_sign_flip needs the same, non-zero number of cases on both sides")
    if np.any(na <= 0) or np.any(nb <= 0) or np.any(ca < 0) or np.any(cb < 0) or np.any(ca > na) or np.any(cb > nb):
        raise ValueError("each case needs at least one call on each side and no more correct calls than calls")
    scale = _lcm(np.unique(np.concatenate([na, nb])))
    scores = cb * (scale // nb) - ca * (scale // na)
    observed = int(scores.sum())
    magnitudes = np.abs(scores[scores != 0])
    total = int(magnitudes.sum())
    dist = np.zeros(2 * total + 1)
    dist[total] = 1.0
    for m in magnitudes:
        m = int(m)
        shifted = np.zeros_like(dist)
        shifted[m:] += 0.5 * dist[:-m]
        shifted[:-m] += 0.5 * dist[m:]
        dist = shifted
    at = observed + total
    p_greater = float(min(1.0, dist[at:].sum()))
    p_less = float(min(1.0, dist[: at + 1].sum()))
    point = float(dist[at])
    p_exact = min(1.0, 2.0 * min(p_greater, p_less))
    p_midp = 1.0 if observed == 0 else min(1.0, p_exact - point)
    return {
        "delta": observed / scale / ca.size,
        "p_greater": p_greater,
        "p_less": p_less,
        "p_exact": p_exact,
        "p_midp": p_midp,
        "n": int(ca.size),
    }


def one_sided_exact_p(b: Any, c: Any) -> Any:
    """P(X >= c) for X ~ Binomial(b + c, 1/2): the exact one-sided McNemar p that B (which
    fixed c cases and broke b) is better. Vectorised; 1.0 when b + c == 0."""
    from scipy.stats import binom

    b, c = np.asarray(b), np.asarray(c)
    return np.where(b + c > 0, binom.sf(c - 1, b + c, 0.5), 1.0)


@functools.lru_cache(maxsize=64)
def _critical_fixed(n: int, alpha: float) -> np.ndarray:
    """For m = 0..n discordant pairs, the least number fixed whose one-sided exact p is below
    alpha (m + 1 when none is)."""
    from scipy.stats import binom

    crit = np.empty(n + 1, dtype=np.int64)
    for m in range(n + 1):
        c = np.arange(m + 1)
        significant = np.nonzero(binom.sf(c - 1, m, 0.5) < alpha)[0] if m else np.array([], dtype=np.int64)
        crit[m] = int(significant[0]) if significant.size else m + 1
    return crit


def _power_curve(n: int, p_discordant: float, deltas: Any, alpha: float) -> Any:
    """significance_power for each delta in `deltas` (all at most p_discordant), vectorised."""
    from scipy.stats import binom

    psi = float(p_discordant)
    m = np.arange(n + 1)
    crit = _critical_fixed(n, alpha)
    p_fix = np.clip((psi + np.asarray(deltas, dtype=float)) / (2.0 * psi), 0.0, 1.0)
    return (binom.pmf(m, n, psi)[None, :] * binom.sf(crit[None, :] - 1, m[None, :], p_fix[:, None])).sum(axis=1)


def significance_power(n: int, p_discordant: float, delta: float, alpha: float = 0.05) -> float:
    """Exact probability that the one-sided exact McNemar test at alpha finds B better, on n
    pairs of which a share p_discordant (at least |delta|) is discordant and B's accuracy
    exceeds A's by delta: the discordant count is Binomial(n, psi) and, given m discordant
    pairs, the cases B fixed are Binomial(m, (psi + delta) / (2 psi))."""
    psi = max(float(p_discordant), abs(float(delta)))
    if psi <= 0:
        return 0.0
    return float(_power_curve(n, psi, [delta], alpha)[0])


@functools.lru_cache(maxsize=4096)
def smallest_detectable_difference(
    n: int, p_discordant: float, *, alpha: float = 0.05, power: float = 0.80
) -> tuple[float | None, str | None]:
    """(delta, reason): the smallest accuracy gain of B over A that the one-sided exact McNemar
    test at alpha detects with the given power, on n pairs at the observed share of discordant
    pairs, computed exactly (not by a normal approximation), to a thousandth of psi. A gain
    cannot exceed the discordant share, so delta is searched in (0, psi]; None with a reason
    when psi is 0 (no discordant pair: nothing to estimate it from) or when even delta = psi
    falls short."""
    _check_count("n", n)
    if n == 0:
        return None, "no paired cases"
    if not p_discordant:
        return None, "cannot be estimated: no discordant pairs (the routes agree on every case)"
    grid = np.linspace(0.0, p_discordant, 1001)[1:]
    reach = np.nonzero(_power_curve(n, p_discordant, grid, alpha) >= power)[0]
    if not reach.size:
        return None, (
            f"does not exist: with {n} pairs and {p_discordant:.0%} discordant, no gain reaches "
            f"{power:.0%} power at one-sided alpha {alpha}"
        )
    return float(grid[reach[0]]), None


def newcombe_arrays(both: Any, only_a: Any, only_b: Any, neither: Any, confidence: float = 0.95) -> Any:
    """Newcombe's method-10 interval (as newcombe_paired_interval) for arrays of tables; counts
    may be fractional. Returns (lower, upper) arrays; nan where a table is empty."""
    z = _z(confidence)
    e, f, g, h = (np.asarray(v, dtype=float) for v in (both, only_b, only_a, neither))
    n = e + f + g + h
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = (e + f) / n, (e + g) / n
        l1, u1 = _wilson_arrays(e + f, n, z)
        l2, u2 = _wilson_arrays(e + g, n, z)
        marginals = (e + f) * (g + h) * (e + g) * (f + h)
        cross = e * h - f * g
        numerator = np.where(cross > n / 2, cross - n / 2, np.where(cross >= 0, 0.0, cross))
        phi = np.where(marginals > 0, numerator / np.sqrt(np.where(marginals > 0, marginals, 1.0)), 0.0)
        lower_sq = (p1 - l1) ** 2 - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
        upper_sq = (u1 - p1) ** 2 - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
        lower = np.maximum(-1.0, p1 - p2 - np.sqrt(np.maximum(lower_sq, 0.0)))
        upper = np.minimum(1.0, p1 - p2 + np.sqrt(np.maximum(upper_sq, 0.0)))
    return lower, upper


def _wilson_arrays(successes: Any, n: Any, z: float) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        z2 = z * z
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / n + z2 / (4.0 * n * n)) / denom
        low = np.where(successes <= 0, 0.0, np.maximum(0.0, centre - half))
        high = np.where(successes >= n, 1.0, np.minimum(1.0, centre + half))
    return low, high


#: exact enumeration of every 2x2 table up to this many pairs; a seeded simulation beyond
EXACT_OC_MAX_N = 160
OC_SIMULATIONS = 20000


@functools.lru_cache(maxsize=8)
def _all_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every 2x2 table (both, only_a, only_b, neither) of n pairs, and its log multinomial coefficient."""
    from scipy.special import gammaln

    rows = []
    for only_a in range(n + 1):
        for only_b in range(n + 1 - only_a):
            both = np.arange(n + 1 - only_a - only_b)
            rows.append(
                np.column_stack(
                    [both, np.full_like(both, only_a), np.full_like(both, only_b), n - only_a - only_b - both]
                )
            )
    tables = np.concatenate(rows).astype(np.int64)
    log_coef = gammaln(n + 1.0) - gammaln(tables + 1.0).sum(axis=1)
    return tables, log_coef


@functools.lru_cache(maxsize=4096)
def approval_probability(
    n: int,
    delta: float,
    p_discordant: float,
    accuracy_a: float,
    *,
    alpha: float | None = None,
    margin: float | None = None,
    drop_on: str = "ci95",
    seed: int = 0,
) -> float:
    """Probability that the gate's paired accuracy checks approve B over A on n cases when B's
    true accuracy is A's plus `delta`, with a share p_discordant (at least |delta|) of
    discordant pairs and A's accuracy `accuracy_a`.

    The checks are those of the policy: `alpha` set means require_significant_improvement (the
    one-sided exact McNemar test below alpha); `margin` set means max_drop.accuracy, decided on
    the lower bound of Newcombe's interval (drop_on ci95) or on the observed difference (point).
    Computed exactly over every 2x2 table for n <= EXACT_OC_MAX_N, else by a seeded simulation.
    """
    psi = max(float(p_discordant), abs(float(delta)))
    fixed, broken = (psi + delta) / 2.0, (psi - delta) / 2.0
    both = min(max(float(accuracy_a) - broken, 0.0), 1.0 - psi)
    probs = np.clip([both, broken, fixed, 1.0 - psi - both], 0.0, 1.0)
    probs = probs / probs.sum()
    if n <= EXACT_OC_MAX_N:
        tables, log_coef = _all_tables(n)
        with np.errstate(divide="ignore"):
            log_p = np.where(tables > 0, tables * np.log(np.where(probs > 0, probs, 1.0))[None, :], 0.0)
            impossible = ((tables > 0) & (probs[None, :] <= 0)).any(axis=1)
        weights = np.where(impossible, 0.0, np.exp(log_coef + log_p.sum(axis=1)))
    else:
        tables = np.random.default_rng(seed).multinomial(n, probs, size=OC_SIMULATIONS)
        weights = np.full(len(tables), 1.0 / OC_SIMULATIONS)
    approve = np.ones(len(tables), dtype=bool)
    e, b, c, h = tables.T
    if alpha is not None:
        approve &= _one_sided_table(n, alpha)[b, c] if n <= EXACT_OC_MAX_N else one_sided_exact_p(b, c) < alpha
    if margin is not None:
        if drop_on == "point":
            approve &= (c - b) / n >= -margin - 1e-12
        else:
            lower, _ = newcombe_arrays(e, b, c, h)
            approve &= lower >= -margin - 1e-12
    return float(np.clip(weights[approve].sum(), 0.0, 1.0))


@functools.lru_cache(maxsize=16)
def _one_sided_table(n: int, alpha: float) -> np.ndarray:
    """(n + 1, n + 1) booleans: whether (broken b, fixed c) is significant one-sided at alpha."""
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    table: np.ndarray = one_sided_exact_p(b, c) < alpha
    return table


def newcombe_half_width(n: int, p_discordant: float, accuracy: float = 0.8, confidence: float = 0.95) -> float:
    """Half the width of Newcombe's interval on n pairs when both routes have `accuracy` and a
    share p_discordant of the pairs is discordant, half each way (the figure docs/ci.md quotes
    for choosing a margin; counts may be fractional)."""
    discordant = p_discordant * n / 2.0
    low, high = newcombe_arrays(
        accuracy * n - discordant, discordant, discordant, n - accuracy * n - discordant, confidence
    )
    return float(high - low) / 2.0


def conditional_false_approval(discordant: int, alpha: float = 0.05, *, mid_p: bool = False) -> float:
    """Probability that the one-sided McNemar test finds B better when A and B are equally good,
    given the number of discordant pairs: with the exact p (what the gate uses) it never exceeds
    alpha; with the mid-p it does for some counts (the reason the gate does not use it)."""
    from scipy.stats import binom

    _check_count("discordant", discordant)
    fixed = np.arange(discordant + 1)
    p = binom.sf(fixed - 1, discordant, 0.5)
    if mid_p:
        p = p - 0.5 * binom.pmf(fixed, discordant, 0.5)
    return float(binom.pmf(fixed, discordant, 0.5)[p < alpha].sum())
