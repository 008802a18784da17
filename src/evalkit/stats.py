"""Small, pure statistics helpers for comparing eval routes.

Everything here is a function of counts or labels: no I/O,
no global state. scipy is imported inside the function that needs it (mcnemar), so
importing this module costs only numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

__all__ = [
    "wilson_interval",
    "mcnemar",
    "newcombe_paired_interval",
    "cohen_kappa",
    "min_detectable_difference",
    "percentile",
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


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Wilson score interval for successes/n (no continuity correction); None when n == 0."""
    _check_count("successes", successes)
    _check_count("n", n)
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    z = _z(confidence)
    if n == 0:
        return None
    return _wilson(successes, n, z)


def mcnemar(b: int, c: int) -> dict:
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
