"""A train case with the same text as a holdout case (lower case, punctuation dropped, spaces
evened out) stops the suite, naming the first such train case and the holdout case it repeats."""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import pytest

from evalkit.cases import Case, normalise_text, validate_cases
from evalkit.errors import BadInput


def _suite(cases):
    task = SimpleNamespace(labels=["a", "b"], label_field=None)
    return SimpleNamespace(spec=SimpleNamespace(task=task), cases=cases, path="suite.yaml")


def _reference(cases):
    """The twin the check must name, by its definition: (train id, holdout id, count) or None."""
    holdout = {normalise_text(c.text()): c for c in cases if c.split == "holdout"}
    twins = [
        (c, holdout[normalise_text(c.text())])
        for c in cases
        if c.split == "train" and normalise_text(c.text()) in holdout
    ]
    return (twins[0][0].id, twins[0][1].id, len(twins)) if twins else None


def _case(i, text, split):
    case = Case(id=f"{split[0]}{i}", input=text, expected="a", split=split)
    case.origin = f"cases.jsonl:{i}"
    return case


def _named(cases):
    try:
        validate_cases(_suite(cases))
    except BadInput as error:
        found = re.search(r"train case '(\w+)' has the same text as holdout case '(\w+)'", str(error))
        more = re.search(r"; (\d+) more", str(error))
        return found.group(1), found.group(2), 1 + int(more.group(1)) if more else 1
    return None


@pytest.mark.parametrize(
    "train, holdout",
    [
        ("Where is my card?", "where is my card"),
        ("where   is my\tcard", "Where is my card!!"),
        ("naïve café", "Naïve, café."),
        ("where is my card\u2026", "where is my card"),  # non-ASCII punctuation in the train text only
        ("where\u00a0is my card", "where is my card"),  # a non-ASCII space
        ("snake_case word", "snake_case, word"),
    ],
)
def test_texts_equal_once_normalised_are_twins(train, holdout):
    cases = [_case(1, holdout, "holdout"), _case(2, "something else", "holdout"), _case(3, train, "train")]
    assert _named(cases) == ("t3", "h1", 1) == _reference(cases)


def test_different_texts_are_not_twins():
    cases = [
        _case(1, "where is my card", "holdout"),
        _case(2, "where is my cards", "train"),
        _case(3, "where is mycard", "train"),
        _case(4, "wh_ere is my card", "train"),
    ]
    assert _named(cases) is None and _reference(cases) is None


def test_random_suites_name_the_twin_their_definition_names():
    rng = random.Random(5)
    words = ["card", "Card", "my", "where", "is", "top-up", "naïve", "x_y", "\u2026", "!", "?", "  ", "\t", "é"]
    for _ in range(300):
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(12)]
        cases = [_case(i, text, rng.choice(["holdout", "train"])) for i, text in enumerate(texts)]
        if not any(c.split == "holdout" for c in cases):
            continue
        assert _named(cases) == _reference(cases)
