"""Holdout cases whose text also sits in the training data, exactly or nearly.

A leaked holdout case measures memory, not skill. Two texts are an exact match when their
normalised forms (lower case, no punctuation, single spaces: `cases.normalise_text`) are equal,
or when a training prompt contains the whole normalised holdout text; a near match when the
cosine similarity of their TF-IDF vectors (character 3- to 5-grams within words, which survive
small edits, typos and reordering) reaches the threshold.

`find_leaks` is pure; `suite_leaks` gathers the texts of a suite and of a training file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.cases import normalise_text

DEFAULT_THRESHOLD = 0.9
MIN_CONTAINED_CHARS = 20  # shorter holdout texts must match whole, not as a substring


@dataclass(frozen=True, slots=True)
class Text:
    id: str
    text: str
    source: str = "train"  # train split / few-shot pool, or file:PATH:LINE


@dataclass(frozen=True, slots=True)
class Leak:
    holdout_id: str
    other_id: str
    source: str
    match: str  # exact | near
    similarity: float

    def describe(self) -> str:
        how = "same text" if self.match == "exact" else f"near copy, cosine {self.similarity:.3f}"
        return f"holdout case {self.holdout_id!r} ~ {self.other_id!r} in {self.source} ({how})"


def find_leaks(holdout: list[Text], others: list[Text], threshold: float = DEFAULT_THRESHOLD) -> list[Leak]:
    """Every (holdout, other) pair that matches exactly or at least `threshold` cosine; the best first."""
    if not holdout or not others:
        return []
    if not 0.0 < threshold <= 1.0:
        from evalkit.errors import BadInput

        raise BadInput(f"the leakage threshold must be in (0, 1], got {threshold}")
    from sklearn.feature_extraction.text import TfidfVectorizer

    left = [normalise_text(t.text) for t in holdout]
    right = [normalise_text(t.text) for t in others]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vectorizer.fit(left + right)
    scores = (vectorizer.transform(left) @ vectorizer.transform(right).T).toarray()
    leaks = []
    for i, h in enumerate(holdout):
        for j, o in enumerate(others):
            exact = left[i] == right[j] or (len(left[i]) >= MIN_CONTAINED_CHARS and left[i] in right[j])
            if exact or scores[i, j] >= threshold:
                leaks.append(
                    Leak(h.id, o.id, o.source, "exact" if exact else "near", round(float(min(scores[i, j], 1.0)), 4))
                )
    return sorted(leaks, key=lambda leak: (leak.match != "exact", -leak.similarity, leak.holdout_id, leak.other_id))


def suite_leaks(suite, *, training_file: str | Path | None = None, fmt: str | None = None, route: str | None = None,
                threshold: float = DEFAULT_THRESHOLD) -> list[Leak]:
    """Leaks between the suite's holdout cases and its train split (the few-shot pool), and a training file."""
    holdout = [Text(c.id, c.text()) for c in suite.holdout]
    pool = [Text(c.id, c.text(), _pool_source(suite, c.id)) for c in suite.train]
    leaks = find_leaks(holdout, pool, threshold)
    if training_file is not None:
        leaks += find_leaks(_rendered_holdout(suite, route), training_texts(training_file, fmt), threshold)
    return leaks


def _pool_source(suite, case_id: str) -> str:
    def draws_from_pool(route) -> bool:
        if route.examples is not None and route.examples.strategy == "fixed":
            return case_id in route.examples.ids
        return route.examples is not None or route.kind == "prompted"

    routes = [name for name, route in suite.spec.routes.items() if draws_from_pool(route)]
    return f"the train split (few-shot pool of {', '.join(routes)})" if routes else "the train split"


def _rendered_holdout(suite, route: str | None) -> list[Text]:
    """Holdout cases as the tuned route writes their user turn (what a training file would hold)."""
    from evalkit.finetune.export import pick_route, route_plan

    name = route or pick_route(suite, None, required=False)
    if name is None:
        return [Text(c.id, c.text()) for c in suite.holdout]
    plan = route_plan(suite, name)
    texts = []
    for case in suite.holdout:
        messages = plan.render(case).messages
        texts.append(Text(case.id, "\n".join(m["content"] for m in messages if m["role"] == "user") or case.text()))
    return texts


def training_texts(path: str | Path, fmt: str | None = None) -> list[Text]:
    """The user turns of each example of a training file."""
    from evalkit.finetune.validate import read_records, resolve_format

    path = Path(path)
    records = read_records(path)
    format_ = resolve_format(records, fmt, path)
    texts = []
    for line, record in records:
        if any(p.severity == "error" for p in format_.check(record)):
            continue  # a malformed line has no text to compare; `ft validate` reports it
        messages = format_.messages(record)
        user = "\n".join(
            m["content"] for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)
        )
        if user:
            texts.append(Text(f"line {line}", user, f"{path}:{line}"))
    return texts
