"""Routes render cases into messages: templates, few-shot examples, retrieval."""

from __future__ import annotations

import pytest

from conftest import TRAIN, make_case
from evalkit.planning import build_plans
from evalkit.routes import RoutePlan
from evalkit.suite import load_suite


def plan_for(make_suite, route: dict, cases=None, **suite_keys) -> tuple[RoutePlan, object]:
    suite = load_suite(make_suite(cases, routes={"r": route}, **suite_keys))
    return build_plans(suite, ["r"])["r"], suite


def test_a_route_without_prompt_sends_the_input(make_suite):
    plan, suite = plan_for(make_suite, {"kind": "base", "model": "mock:echo"})
    assert plan.render(suite.holdout[0]).messages == [{"role": "user", "content": "I was charged twice"}]


def test_object_input_gives_fields_by_name_and_the_whole_object(make_suite):
    cases = TRAIN + [make_case("h1", "billing_dispute", {"subject": "Charge", "body": "twice"})]
    plan, suite = plan_for(make_suite, {"kind": "base", "model": "mock:echo", "system": "S",
                                        "prompt": "{{ subject }} / {{ input }}"}, cases)
    messages = plan.render(suite.holdout[0]).messages
    assert messages == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Charge / subject: Charge\nbody: twice"},
    ]


def test_case_text_is_data_never_a_template(make_suite):
    cases = TRAIN + [make_case("h1", "billing_dispute", "my name is {{ labels }} {% if x %}")]
    plan, suite = plan_for(make_suite, {"kind": "base", "model": "mock:echo"}, cases)
    assert plan.render(suite.holdout[0]).messages[-1]["content"] == "my name is {{ labels }} {% if x %}"


def test_fixed_examples_are_the_listed_train_cases(make_suite):
    plan, suite = plan_for(make_suite, {"kind": "prompted", "model": "mock:echo",
                                        "examples": {"strategy": "fixed", "ids": ["t3", "t5"]}})
    assert [c.id for c in plan.render(suite.holdout[0]).examples] == ["t3", "t5"]


def test_stratified_examples_cover_every_label_before_repeating_one(make_suite):
    plan, suite = plan_for(
        make_suite, {"kind": "prompted", "model": "mock:echo", "examples": {"k": 3, "strategy": "stratified"}}
    )
    labels = [c.expected for c in plan.render(suite.holdout[0]).examples]
    assert sorted(labels) == ["billing_dispute", "cancellation", "login_failure"]


def test_similar_examples_are_the_nearest_train_cases(make_suite):
    plan, suite = plan_for(
        make_suite, {"kind": "prompted", "model": "mock:echo", "examples": {"k": 1, "strategy": "similar"}}
    )
    login_case = next(c for c in suite.holdout if c.id == "h3")
    assert plan.render(login_case).examples[0].expected == "login_failure"


def test_examples_go_into_the_system_prompt_by_default_never_after_the_case(make_suite):
    plan, suite = plan_for(make_suite, {"kind": "prompted", "model": "mock:echo", "system": "Triage.",
                                        "examples": {"k": 2, "strategy": "fixed", "ids": ["t1", "t3"]}})
    system, user = plan.render(suite.holdout[0]).messages
    assert system["content"].startswith("Triage.") and "you billed me two times" in system["content"]
    assert '{"label": "billing_dispute"}' in system["content"]
    assert user["content"] == "I was charged twice"


def test_examples_go_where_the_template_puts_them(make_suite):
    plan, suite = plan_for(
        make_suite,
        {
            "kind": "prompted",
            "model": "mock:echo",
            "prompt": "{{ examples }}\n---\n{{ input }}",
            "examples": {"strategy": "fixed", "ids": ["t1"]},
        },
    )
    messages = plan.render(suite.holdout[0]).messages
    assert len(messages) == 1 and messages[0]["content"].endswith("---\nI was charged twice")


def test_unknown_fixed_example_id_is_bad_input(make_suite):
    from evalkit.errors import BadInput

    with pytest.raises(BadInput, match="not among the train cases: t99"):
        plan_for(
            make_suite, {"kind": "prompted", "model": "mock:echo", "examples": {"strategy": "fixed", "ids": ["t99"]}}
        )


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "billing.md").write_text("Double charges and charges after cancellation are billing disputes.")
    (folder / "login.md").write_text("Sign in errors and password problems are login failures.")
    (folder / "cancel.md").write_text("To end a subscription the customer asks for cancellation.")
    return "docs"


def test_rag_route_records_retrieved_chunk_ids_and_puts_them_in_context(make_suite, corpus):
    plan, suite = plan_for(make_suite, {"kind": "rag", "model": "mock:echo", "retrieval": {"k": 1}}, corpus=corpus)
    login_case = next(c for c in suite.holdout if c.id == "h3")
    rendered = plan.render(login_case)
    assert rendered.retrieved == ["login#0"]
    assert "[login#0]" in rendered.messages[0]["content"]


def test_rag_route_without_corpus_is_rejected(make_suite):
    from evalkit.errors import BadInput

    with pytest.raises(BadInput, match="no corpus"):
        load_suite(make_suite(routes={"r": {"kind": "rag", "model": "mock:echo"}}))


def test_retrieval_scores_doc_ids_that_contain_a_hash():
    from evalkit.retrieval import Retriever, recall_at_k, reciprocal_rank

    retriever = Retriever({"faq#refunds": "refunds take five days", "faq#login": "reset your password"})
    ids = [c.id for c in retriever.search("refunds", 1)]
    assert ids == ["faq#refunds#0"]
    assert recall_at_k(["faq#refunds"], ids) == 1.0
    assert reciprocal_rank(["faq#refunds"], ids) == 1.0


def test_two_corpus_files_with_the_same_doc_id_are_bad_input_not_one_lost(tmp_path):
    from evalkit.errors import BadInput
    from evalkit.retrieval import load_documents

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "faq.md").write_text("refunds")
    (tmp_path / "b" / "faq.md").write_text("logins")
    with pytest.raises(BadInput, match="faq"):
        load_documents(tmp_path)
