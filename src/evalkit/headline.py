"""The headline metrics of a route: one declaration each, read by every later stage.

`HEADLINE` is the registry. The summary computes each metric with its interval
(`metrics.headline_entries`), compare pairs it case by case in the paired bootstrap, the gate
accepts it in `min`, `min_by_tag` and `max_drop` (the policy's schema is built from here), and
frames, the report, the packet, the charts and the viewer list it. Adding a metric is one
`HeadlineMetric` passed to `register` and its test; see docs/architecture.md.

Every headline metric is a function of the confusion matrix of expected against predicted
label, where unparsed and error rows are the predicted values `__unparsed__` and `__error__`
(the last two columns). `of_confusions` computes it for a (B, K, K) stack of such matrices at
once, which is what the case bootstraps of the summary, the gate's tags and compare resample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Row = dict[str, Any]
Array = Any  # a numpy array
Interval = list[float] | None

UNPARSED, ERROR = "__unparsed__", "__error__"


@dataclass(frozen=True)
class HeadlineMetric:
    """One headline metric of a route."""

    name: str  # its key in summary.json, compare, the policy
    label: str  # how people read it, in sentences and table headings
    description: str  # what it is, for the policy's schema
    #: (B, K, K) confusion stack and the number of labels -> (B,) values, NaN where undefined
    of_confusions: Callable[[Array, int], Array]
    #: "wilson": a per-call rate over the rows (`hit` among `counted`) with a case-clustered
    #: Wilson interval; "bootstrap": BCa case bootstrap widened to the jackknife
    interval: Literal["wilson", "bootstrap"] = "bootstrap"
    hit: Callable[[Row], Any] | None = None
    counted: Callable[[Row], Any] | None = None
    bounds: tuple[float, float] = (0.0, 1.0)  # the values it can take
    higher_is_better: bool = True  # a policy's `min` is a floor and a drop is a fall; else a ceiling and a rise
    gated: bool = True  # a policy may set it under `min`, `min_by_tag` and `max_drop`
    percent: bool = False  # shown as a percentage, its differences in points
    chart: bool = False  # drawn in the packet's per-route chart
    undefined: str = "undefined"  # why the value is missing when rows exist
    notes: Mapping[str, str] = field(default_factory=dict)  # constant keys of its summary entry
    #: widens the bootstrap interval (kappa: to the Wilson limits of the agreement)
    widen: Callable[[Interval, list[Row], list[str]], Interval] | None = None

    @property
    def title(self) -> str:
        """Its label as a heading."""
        return self.label[:1].upper() + self.label[1:]

    @property
    def unit(self) -> str:
        """The unit of its differences: "pts" for a percentage, "" for a score."""
        return "pts" if self.percent else ""

    @property
    def drop_bound(self) -> float:
        """The largest possible drop from one route to another."""
        return self.bounds[1] - self.bounds[0]


HEADLINE: dict[str, HeadlineMetric] = {}


def register(metric: HeadlineMetric) -> HeadlineMetric:
    """Add a headline metric (a name registered again is replaced)."""
    if metric.interval == "wilson" and metric.hit is None:
        raise ValueError(f"headline metric {metric.name!r}: a Wilson rate needs `hit`")
    HEADLINE[metric.name] = metric
    return metric


def gated() -> list[HeadlineMetric]:
    """The headline metrics a gate policy may use."""
    return [metric for metric in HEADLINE.values() if metric.gated]


def unregister(name: str) -> None:
    HEADLINE.pop(name, None)


def label_of(name: str) -> str:
    """How people read the metric `name` (the name itself when it is not a headline metric)."""
    metric = HEADLINE.get(name)
    return metric.label if metric else name


def predicted_value(row: Row) -> str:
    """The row's column of the confusion matrix: its label, or `__unparsed__` or `__error__`."""
    if row.get("error"):
        return ERROR
    return str(row["predicted_label"]) if row.get("parsed_ok") else UNPARSED


# -- the statistics, vectorised over stacks of confusion matrices --


def accuracy_of_confusions(conf: Array, n_labels: int) -> Array:
    import numpy as np

    total = conf.sum(axis=(1, 2)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, np.trace(conf, axis1=1, axis2=2) / total, np.nan)


def parse_rate_of_confusions(conf: Array, n_labels: int) -> Array:
    """Parsed rows (a label predicted) over rows with an output (all but the error column)."""
    import numpy as np

    parsed = conf[:, :, :n_labels].sum(axis=(1, 2))
    with_output = conf.sum(axis=(1, 2)) - conf[:, :, n_labels + 1].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(with_output > 0, parsed / with_output, np.nan)


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


def _kappa_with_agreement_limits(kappa_ci: Interval, rows: list[Row], labels: list[str]) -> Interval:
    """Kappa's interval widened, where needed, to the Wilson limits of the observed agreement
    (which is accuracy) carried through kappa = (p_o - p_e) / (1 - p_e) at the observed chance
    agreement p_e. A route right on nearly every case leaves the bootstrap and the jackknife
    almost nothing to vary, and their interval collapses onto the estimate; the agreement's
    Wilson limits, like Wilson's for accuracy, do not."""
    from collections import Counter

    from evalkit.stats import clustered_rate

    if kappa_ci is None or not rows:
        return kappa_ci
    tallies: dict[str, list[int]] = {}
    for row in rows:
        tally = tallies.setdefault(row["case_id"], [0, 0])
        tally[0] += predicted_value(row) == row["expected_label"]
        tally[1] += 1
    agreement = clustered_rate([t[0] for t in tallies.values()], [t[1] for t in tallies.values()])["ci95"]
    expected, predicted = Counter(r["expected_label"] for r in rows), Counter(predicted_value(r) for r in rows)
    chance = sum(expected[c] * predicted[c] for c in expected) / len(rows) ** 2
    if chance >= 1.0 or agreement is None:
        return kappa_ci
    low, high = ((limit - chance) / (1.0 - chance) for limit in agreement)
    return [max(-1.0, min(kappa_ci[0], low)), min(1.0, max(kappa_ci[1], high))]


register(
    HeadlineMetric(
        "accuracy",
        "accuracy",
        "Correct rows over all rows (unparsed and error rows are wrong).",
        accuracy_of_confusions,
        interval="wilson",
        hit=lambda r: r.get("correct"),
        percent=True,
        chart=True,
    )
)
register(
    HeadlineMetric(
        "parse_rate",
        "parse rate",
        "Parsed rows over rows that returned an output.",
        parse_rate_of_confusions,
        interval="wilson",
        hit=lambda r: r.get("parsed_ok"),
        counted=lambda r: not r.get("error"),
        percent=True,
    )
)
register(
    HeadlineMetric(
        "kappa",
        "kappa",
        "Cohen's kappa; an undefined kappa fails the check.",
        lambda conf, n_labels: kappa_from_confusions(conf),
        bounds=(-1.0, 1.0),
        undefined="undefined: only one class among expected and predicted labels",
        widen=_kappa_with_agreement_limits,
    )
)
register(
    HeadlineMetric(
        "macro_f1",
        "macro-F1",
        "Macro-F1 over the labels (per tag: over the labels the tag's cases expect).",
        macro_f1_from_confusions,
        chart=True,
        notes={"over": "the labels that occur among the expected answers"},
    )
)
