"""Prices: the shipped table, fine-tuned and snapshot ids, suite overrides, and unknown cost."""

from __future__ import annotations

import pytest

from evalkit.pricing import call_cost, price_for, shipped_prices
from evalkit.suite import Price
from evalkit.testing.stub_server import StubServer
from stub_helpers import gold, isolate, openai_route, rows, run, write_suite


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


def test_fine_tuned_openai_model_is_priced_at_its_base_models_fine_tuned_rate():
    price = price_for("openai:ft:gpt-4.1-mini-2025-04-14:northwind::triage01")
    assert price == shipped_prices()["openai:ft:gpt-4.1-mini"]
    assert price.input > price_for("openai:gpt-4.1-mini").input
    assert price.training is not None


@pytest.mark.parametrize("model, family", [("openai:gpt-4.1-mini-2025-04-14", "openai:gpt-4.1-mini"),
                                           ("anthropic:claude-haiku-4-5-20251001", "anthropic:claude-haiku-4-5"),
                                           ("anthropic:claude-3-5-haiku-latest", "anthropic:claude-3-5-haiku")])
def test_dated_snapshot_or_alias_is_priced_as_its_family(model, family):
    assert price_for(model) == shipped_prices()[family]


def test_unknown_model_has_no_price_and_no_cost():
    assert price_for("openai:my-own-model") is None
    assert price_for("openai:ft:some-unpriced-base:org::x") is None
    assert call_cost(None, 1000, 100) is None


def test_suite_price_overrides_the_shipped_table():
    mine = Price(input=1.0, output=2.0)
    assert price_for("openai:gpt-4.1-mini", {"openai:gpt-4.1-mini": mine}) == mine


def test_cost_is_tokens_times_price_per_million():
    assert call_cost(Price(input=0.4, output=1.6), 1000, 500) == pytest.approx((1000 * 0.4 + 500 * 1.6) / 1e6)


def test_every_shipped_remote_price_is_positive_and_batch_is_not_dearer():
    for model, price in shipped_prices().items():
        if model.startswith("local:"):
            continue
        assert price.input > 0 and price.output >= price.input, model
        if price.batch_input is not None:
            assert price.batch_input <= price.input and price.batch_output <= price.output, model
        if model.startswith("openai:ft:"):
            assert price.training and price.training > 0, model


def test_row_and_summary_carry_the_cost(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"base": openai_route(stub)}, n=4)
        result = run(suite, tmp_path / "run", cache="off")
    row = rows(result.run_dir)[0]
    assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 0.40 + row["output_tokens"] * 1.60) / 1e6)
    total = sum(r["cost_usd"] for r in rows(result.run_dir))
    assert result.summary["routes"]["base"]["cost_usd"]["total"] == pytest.approx(total)
    assert result.summary["routes"]["base"]["cost_usd"]["per_1k"] == pytest.approx(total / 4 * 1000)


def test_unknown_price_is_null_in_rows_and_summary_and_unknown_in_the_report(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"local": openai_route(stub, model="qwen2.5-7b-instruct")}, n=2)
        result = run(suite, tmp_path / "run", cache="off")
    assert all(r["cost_usd"] is None for r in rows(result.run_dir))
    assert result.summary["routes"]["local"]["cost_usd"] is None
    assert "unknown" in (result.run_dir / "report.md").read_text()


def test_suite_pricing_prices_a_model_the_table_does_not_know(tmp_path):
    with StubServer(lambda kind, body: gold(body)) as stub:
        suite = write_suite(tmp_path, {"local": openai_route(stub, model="qwen2.5-7b-instruct")}, n=2,
                            pricing={"openai:qwen2.5-7b-instruct": {"input": 0.1, "output": 0.2}})
        result = run(suite, tmp_path / "run", cache="off")
    assert result.summary["routes"]["local"]["cost_usd"]["total"] > 0
