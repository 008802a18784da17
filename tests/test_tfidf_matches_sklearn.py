"""evalkit.tfidf ranks exactly as scikit-learn's TfidfVectorizer did before it replaced it."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from evalkit.tfidf import TfidfIndex, english_stop_words

WORDS = ["card", "refund", "charged", "twice", "login", "error", "password", "cancel", "plan", "the", "my", "is",
         "a", "not", "arrived", "parcel", "broken", "invoice", "après-vente", "x", "2fa", "données"]

SETTINGS = [
    pytest.param({}, {}, id="words (few-shot examples)"),
    pytest.param({"bigrams": True, "english_stop_words": True}, {"ngram_range": (1, 2), "stop_words": "english"},
                 id="words and pairs without stop words (retrieval)"),
]


def random_texts(rng: random.Random, n: int, length: int = 12) -> list[str]:
    texts = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, length))]
        texts.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words) + rng.choice([".", "!", "?", ""]))
    return texts


def sklearn_scores(vectorizer, matrix, query: str):
    return (matrix @ vectorizer.transform([query]).T).toarray().ravel()


@pytest.mark.parametrize(("ours", "theirs"), SETTINGS)
def test_scores_are_bit_for_bit_those_of_sklearn(ours, theirs):
    rng = random.Random(1)
    docs, queries = random_texts(rng, 60), random_texts(rng, 40)
    index = TfidfIndex(docs, **ours)
    vectorizer = TfidfVectorizer(sublinear_tf=True, **theirs)
    matrix = vectorizer.fit_transform(docs)
    for query in queries:
        assert np.array_equal(index.scores(query), sklearn_scores(vectorizer, matrix, query)), query


@pytest.mark.parametrize(("ours", "theirs"), SETTINGS)
def test_top_k_is_the_stable_descending_order_of_sklearn_scores(ours, theirs):
    rng = random.Random(2)
    docs = random_texts(rng, 80, length=4)  # short texts: many tied scores
    index = TfidfIndex(docs, **ours)
    vectorizer = TfidfVectorizer(sublinear_tf=True, **theirs)
    matrix = vectorizer.fit_transform(docs)
    for query in random_texts(rng, 40, length=4):
        expected = np.argsort(-sklearn_scores(vectorizer, matrix, query), kind="stable")
        for k in (1, 3, 8, 80, 200):
            assert index.top(query, k) == expected[:k].tolist(), (query, k)


def test_a_query_with_no_known_term_ranks_documents_in_their_order():
    index = TfidfIndex(["billing dispute", "login failure", "parcel late"])
    assert index.top("zzz qqq", 2) == [0, 1]


def test_english_stop_words_are_sklearns_list():
    assert english_stop_words() == ENGLISH_STOP_WORDS
