"""TF-IDF cosine ranking with numpy alone, for few-shot example picking and RAG retrieval.

It computes what scikit-learn's `TfidfVectorizer(sublinear_tf=True)` followed by
`matrix @ vectorizer.transform([query]).T` and a stable descending sort computes (the word
tokens `(?u)\\b\\w\\w+\\b` of the lowercased text, optional English stop words and word
bigrams, `1 + log(tf)`, the smoothed idf `ln((1 + n) / (1 + df)) + 1`, rows scaled to unit
length), summing in the same order, so the rankings are the same, ties included
(tests/test_tfidf_matches_sklearn.py holds it to that). It exists because importing
scikit-learn costs about 1.2 s and 140 MB, more than a whole cached re-run may take.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop-word list, read from its source file without importing
    the package (whose import costs about a second); the regular import if that file moved."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        source = Path(list(spec.submodule_search_locations)[0]) / "feature_extraction" / "_stop_words.py"
        try:
            namespace: dict = {}
            exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)  # noqa: S102 - a data file
            words = namespace.get("ENGLISH_STOP_WORDS")
            if isinstance(words, frozenset) and words:
                return words
        except (OSError, SyntaxError):
            pass
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def analyse(text: str, *, bigrams: bool = False, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """The terms of a text: word tokens (then their bigrams), stop words removed first."""
    tokens = _TOKEN.findall(text.lower())
    if stop_words:
        tokens = [t for t in tokens if t not in stop_words]
    if bigrams and len(tokens) > 1:
        tokens = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]
    return tokens


def _counts(terms: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for term in terms:
        counts[term] = counts.get(term, 0) + 1
    return counts


class TfidfIndex:
    """Documents indexed for cosine similarity: `top(query, k)` gives the indices of the `k`
    most similar documents, best first, ties in document order."""

    def __init__(self, texts: list[str], *, bigrams: bool = False, english_stop_words: bool = False):
        import numpy as np

        self._options: dict[str, Any] = {"bigrams": bigrams, "stop_words": english_stop_words_if(english_stop_words)}
        self.n_docs = len(texts)
        vocabulary: dict[str, int] = {}  # term -> column, in order of first appearance
        doc_columns: list[list[int]] = []
        doc_counts: list[list[int]] = []
        for text in texts:
            counts = _counts(analyse(text, **self._options))
            term_columns = [vocabulary.setdefault(term, len(vocabulary)) for term in counts]
            order = sorted(range(len(term_columns)), key=term_columns.__getitem__)
            terms = list(counts.values())
            doc_columns.append([term_columns[i] for i in order])
            doc_counts.append([terms[i] for i in order])
        self.vocabulary = vocabulary
        lengths = np.fromiter((len(c) for c in doc_columns), dtype=np.int64, count=self.n_docs)
        columns = np.fromiter((j for row in doc_columns for j in row), dtype=np.int64, count=int(lengths.sum()))
        weights = np.fromiter((c for row in doc_counts for c in row), dtype=np.float64, count=columns.size)
        df = np.bincount(columns, minlength=len(vocabulary)).astype(np.float64) + 1.0
        idf = np.full_like(df, fill_value=self.n_docs + 1, dtype=np.float64)
        idf /= df
        np.log(idf, out=idf)
        idf += 1.0
        self.idf = idf
        np.log(weights, out=weights)
        weights += 1.0
        weights *= idf[columns]
        values = weights.tolist()
        start = 0
        for length in lengths.tolist():  # unit rows: a sequential sum of squares, as scikit-learn's
            total = 0.0
            for value in values[start:start + length]:
                total += value * value
            if total != 0.0:
                norm = math.sqrt(total)
                weights[start:start + length] /= norm
            start += length
        docs = np.repeat(np.arange(self.n_docs, dtype=np.int64), lengths)
        by_column = np.argsort(columns, kind="stable")  # postings per term, documents in order
        self._docs = docs[by_column]
        self._weights = weights[by_column]
        self._starts = np.concatenate(([0], np.cumsum(np.bincount(columns, minlength=len(vocabulary)))))

    def scores(self, query: str):
        """Cosine similarity of the query with every document (a float array)."""
        import numpy as np

        scores = np.zeros(self.n_docs)
        counts = {}
        for term, count in _counts(analyse(query, **self._options)).items():
            column = self.vocabulary.get(term)
            if column is not None:
                counts[term] = (column, count)
        if not counts:
            return scores
        terms = list(counts)
        columns = np.array([counts[t][0] for t in terms], dtype=np.int64)
        weights = np.array([counts[t][1] for t in terms], dtype=np.float64)
        np.log(weights, out=weights)
        weights += 1.0
        weights *= self.idf[columns]
        values = weights.tolist()
        total = 0.0
        for i in sorted(range(len(terms)), key=terms.__getitem__):  # the query's columns in alphabetical order
            total += values[i] * values[i]
        norm = math.sqrt(total)
        for i in sorted(range(len(terms)), key=columns.__getitem__):  # each document adds in its own column order
            start, end = self._starts[columns[i]], self._starts[columns[i] + 1]
            scores[self._docs[start:end]] += (values[i] / norm) * self._weights[start:end]
        return scores

    def top(self, query: str, k: int) -> list[int]:
        """The `k` best documents, as a stable descending sort of the scores would list them."""
        import numpy as np

        scores = self.scores(query)
        if k >= self.n_docs:
            return np.argsort(-scores, kind="stable").tolist()
        if k <= 0:
            return []
        threshold = np.partition(scores, self.n_docs - k)[self.n_docs - k]
        candidates = np.flatnonzero(scores >= threshold)
        order = np.argsort(-scores[candidates], kind="stable")[:k]
        return candidates[order].tolist()


def english_stop_words_if(wanted: bool) -> frozenset[str]:
    return english_stop_words() if wanted else frozenset()
