"""Cached-input, cache-write and reasoning tokens: recorded apart and priced from pricing.yaml."""

from __future__ import annotations

import pytest

from evalkit.pricing import call_cost, price_for
from evalkit.testing import StubServer
from stub_helpers import anthropic_route, gold, isolate, model_calls, openai_route, rows, run, write_suite

SYSTEM = "You sort support tickets into one of the labels. " * 40  # a long static prefix


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def _openai_details(kind, body, usage):
    usage["prompt_tokens_details"] = {"cached_tokens": 8}
    usage["completion_tokens_details"] = {"reasoning_tokens": 3}


def test_openai_cached_and_reasoning_tokens_are_recorded_and_priced_from_the_table(tmp_path):
    with StubServer(lambda kind, body: gold(body), usage_hook=_openai_details) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=1)
        result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert row["cached_input_tokens"] == 8 and row["reasoning_tokens"] == 3
    price = price_for("openai:gpt-4.1-mini")
    assert (price.input, price.cached_input, price.output) == (0.40, 0.10, 1.60)
    fresh = row["input_tokens"] - 8
    assert row["cost_usd"] == pytest.approx((fresh * 0.40 + 8 * 0.10 + row["output_tokens"] * 1.60) / 1e6)


def test_anthropic_cache_reads_and_writes_are_priced_at_their_own_rates(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        route = anthropic_route(stub, system=SYSTEM, params={"cache_prompt": True})
        suite = write_suite(tmp_path, {"base": route}, n=3)
        result = run(suite, tmp_path / "run", cache="off", concurrency=1)
    first, *later = rows(result.run_dir)
    assert first["cache_write_tokens"] > 0 and first["cached_input_tokens"] == 0
    assert all(r["cached_input_tokens"] == first["cache_write_tokens"] for r in later)
    price = price_for("anthropic:claude-haiku-4-5")
    assert (price.input, price.cached_input, price.cache_write) == (1.00, 0.10, 1.25)
    for row in (first, *later):
        read, written = row["cached_input_tokens"], row["cache_write_tokens"]
        fresh = row["input_tokens"] - read - written  # input_tokens counts every input token
        assert row["cost_usd"] == pytest.approx(
            (fresh * 1.00 + read * 0.10 + written * 1.25 + row["output_tokens"] * 5.00) / 1e6
        )
    assert later[0]["cost_usd"] < first["cost_usd"]


def test_cache_prompt_marks_the_system_prompt_cacheable_and_is_not_sent(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        route = anthropic_route(stub, system=SYSTEM, params={"cache_prompt": True})
        run(write_suite(tmp_path, {"base": route}, n=1), tmp_path / "run", cache="off")
        body = model_calls(stub)[0]["json"]
    [block] = body["system"]
    assert block["cache_control"] == {"type": "ephemeral"} and block["text"].startswith("You sort support tickets")
    assert "cache_prompt" not in body


def test_cached_tokens_without_a_cached_rate_are_priced_at_the_input_rate():
    from evalkit.suite import Price

    assert call_cost(Price(input=2.0, output=4.0), 1000, 10, cached=400) == pytest.approx((1000 * 2.0 + 10 * 4.0) / 1e6)


def test_a_prompted_route_with_similar_examples_is_warned_what_fixed_examples_would_cost(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        route = openai_route(stub, kind="prompted", examples={"k": 2, "strategy": "similar"})
        suite = write_suite(tmp_path, {"prompted": route}, n=2, train=4)
        result = run(suite, tmp_path / "run", cache="off")
    [advice] = [w for w in result.warnings if "similar" in w]
    assert "`fixed` or `stratified`" in advice and "per 1,000 cases" in advice
