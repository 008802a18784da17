"""The offline stand-ins do real work: they learn from the train split, they are not scripted."""

from __future__ import annotations

import asyncio

from conftest import HOLDOUT, TRAIN
from evalkit.providers import ProviderRequest
from evalkit.providers.local import LocalProvider, fill_from_schema
from evalkit.suite import load_suite


def provider(make_suite, name: str, cases=None):
    suite = load_suite(make_suite(cases))
    p = LocalProvider(name, route_name="r", route=suite.spec.routes["base"], suite=suite)
    p.prepare()
    return p, suite


def ask(p, case, examples=(), context=()):
    request = ProviderRequest(
        case.id, "r", 0, [{"role": "user", "content": case.text()}], {}, None, case, list(examples), list(context)
    )
    return asyncio.run(p.complete(request)).text


def test_classifier_predictions_follow_the_training_labels(make_suite):
    flipped = [
        dict(
            c,
            expected={"billing_dispute": "login_failure", "login_failure": "billing_dispute"}.get(
                c["expected"], c["expected"]
            ),
        )
        for c in TRAIN
    ]
    normal, suite = provider(make_suite, "classifier")
    swapped, _ = provider(make_suite, "classifier", flipped + HOLDOUT)
    login = next(c for c in suite.holdout if c.id == "h3")
    assert ask(normal, login) == '{"label": "login_failure"}'
    assert ask(swapped, login) == '{"label": "billing_dispute"}'


def test_nearest_takes_the_label_of_the_most_similar_example(make_suite):
    p, suite = provider(make_suite, "nearest")
    examples = [c for c in suite.train if c.id in ("t1", "t5")]
    login = next(c for c in suite.holdout if c.id == "h3")
    assert ask(p, login, examples) == '{"label": "login_failure"}'


def test_keywords_match_label_names_in_the_input(make_suite):
    p, suite = provider(make_suite, "keywords")
    case = next(c for c in suite.holdout if c.id == "h2")  # "cancel my subscription please"
    assert ask(p, case) == '{"label": "cancellation"}'


def test_retrieval_uses_labels_named_in_the_retrieved_context(make_suite):
    p, suite = provider(make_suite, "retrieval")
    case = next(c for c in suite.holdout if c.id == "h1")
    assert ask(p, case, context=["Policy: any login problem is a login_failure."]) == '{"label": "login_failure"}'


def test_fill_from_schema_satisfies_required_fields():
    schema = {"type": "object", "required": ["code", "severity", "why"],
              "properties": {"severity": {"enum": ["low", "high"]}, "why": {"type": "string"}}}
    assert fill_from_schema(schema, "code", "x") == {"code": "x", "severity": "low", "why": "offline stand-in"}
