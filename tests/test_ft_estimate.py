"""`evalkit ft estimate`: training cost from the price table, and the inference cost change."""

from __future__ import annotations

import json

import pytest

from evalkit.cli import main
from evalkit.finetune.estimate import estimate_inference, estimate_training, training_price
from evalkit.finetune.tokens import TokenCounter
from evalkit.finetune.validate import validate_file
from evalkit.suite import Price, load_suite

PROMPTED = {"kind": "prompted", "model": "mock:big", "system": "You triage tickets. " * 40,
            "examples": {"k": 3, "strategy": "stratified"}}
TUNED = {"kind": "finetuned", "model": "mock:small", "system": "Triage."}
PRICING = {"mock:big": {"input": 2.0, "output": 8.0}, "mock:small": {"input": 0.5, "output": 1.0},
           "mock:ft:base": {"input": 0.5, "output": 1.0, "training": 4.0}}


@pytest.fixture
def training_file(tmp_path):
    record = {"messages": [{"role": "system", "content": "Triage."}, {"role": "user", "content": "I was charged twice"},
                           {"role": "assistant", "content": '{"label": "billing_dispute"}'}]}
    path = tmp_path / "train.jsonl"
    path.write_text((json.dumps(record) + "\n") * 50, encoding="utf-8")
    return path


def test_training_cost_is_billed_tokens_times_epochs_times_price(training_file):
    report = validate_file(training_file)
    estimate = estimate_training(report, "openai:gpt-4o-mini", epochs=4, price_per_mtok=3.0)
    assert estimate.charged_tokens == 4 * report.billed_tokens
    assert estimate.cost_usd == pytest.approx(4 * report.billed_tokens * 3.0 / 1e6)


def test_without_epochs_the_default_rule_applies(training_file):
    estimate = estimate_training(validate_file(training_file), "m", price_per_mtok=1.0)
    assert (estimate.epochs, estimate.epochs_rule) == (3, "default rule")  # 50 examples x 3 epochs >= 100


def test_an_unknown_price_is_an_unknown_cost_never_zero(training_file):
    assert estimate_training(validate_file(training_file), "m", price_per_mtok=None).cost_usd is None


def test_the_training_price_comes_from_the_fine_tuned_entry_of_the_table():
    table = {"openai:ft:gpt-4.1-mini": Price(input=0.8, output=3.2, training=7.0)}
    assert training_price("openai:gpt-4.1-mini-2025-04-14", table) == 7.0  # a dated snapshot matches its family
    assert training_price("gpt-4.1-mini", table) == 7.0  # a bare name is OpenAI's
    assert training_price("nobody:unknown-model", table) is None


def test_the_command_says_unknown_for_a_model_without_price(training_file, capsys):
    assert main(["ft", "estimate", str(training_file), "--model", "nobody:unknown-model"]) == 0
    assert "training cost: unknown" in capsys.readouterr().out


def test_the_command_takes_the_suites_price_overrides(make_suite, training_file, capsys):
    suite = make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING)
    assert (
        main(
            [
                "ft",
                "estimate",
                str(training_file),
                "--model",
                "mock:base",
                "--epochs",
                "2",
                "--suite",
                str(suite),
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["training"]["price_per_mtok"] == 4.0
    assert data["training"]["cost_usd"] == pytest.approx(2 * data["training"]["billed_tokens"] * 4.0 / 1e6)


def test_the_tuned_routes_shorter_prompt_shows_as_fewer_tokens(make_suite):
    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    estimate = estimate_inference(suite)
    assert estimate.delta_input_tokens < -100
    assert estimate.prompted.output_tokens_mean == estimate.tuned.output_tokens_mean


def test_cost_per_1k_is_mean_tokens_times_prices(make_suite):
    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    tuned = estimate_inference(suite).tuned
    assert tuned.cost_per_1k_usd == pytest.approx(
        1000 * (tuned.input_tokens_mean * 0.5 + tuned.output_tokens_mean * 1.0) / 1e6
    )


def test_prompt_tokens_are_counted_from_the_rendered_holdout_prompts(make_suite):
    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    counter = TokenCounter()
    expected = sum(counter.messages([{"role": "system", "content": "Triage."}, {"role": "user", "content": c.input}])
                   for c in suite.holdout) / len(suite.holdout)
    assert estimate_inference(suite).tuned.input_tokens_mean == pytest.approx(expected)


def test_the_monthly_change_scales_the_change_per_1k(make_suite):
    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    estimate = estimate_inference(suite, monthly_volume=250_000)
    assert estimate.delta_monthly_usd == pytest.approx(estimate.delta_per_1k_usd * 250)


@pytest.mark.parametrize("volume", [0, -5])
def test_a_monthly_volume_below_one_call_is_bad_input(make_suite, volume):
    from evalkit.errors import BadInput

    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    with pytest.raises(BadInput, match="--monthly-volume"):
        estimate_inference(suite, monthly_volume=volume)


def test_an_unpriced_route_makes_the_change_unknown(make_suite):
    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}))
    estimate = estimate_inference(suite, monthly_volume=1000)
    assert (estimate.delta_per_1k_usd, estimate.delta_monthly_usd) == (None, None)


def test_an_unknown_prompted_route_is_bad_input_naming_the_routes(make_suite):
    from evalkit.errors import BadInput

    suite = load_suite(make_suite(routes={"prompted": PROMPTED, "tuned": TUNED}, pricing=PRICING))
    with pytest.raises(BadInput, match=r"no route 'nope' in the suite \(routes: prompted, tuned\)"):
        estimate_inference(suite, prompted="nope")
