"""What a fine-tune costs before it starts, and what it changes per call afterwards.

Training: billed tokens per epoch (each example up to the model's limit) x epochs x the price per
training token from the price table. An unknown price gives an unknown cost, never 0.

Inference: the tuned route usually sends a much shorter prompt than the prompted route (no
instructions, no few-shot examples) but pays its own per-token price. Both routes' prompts are
rendered for the holdout cases and counted; the answer is the serialised expected output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evalkit.errors import BadInput


@dataclass(frozen=True)
class TrainingEstimate:
    model: str
    n_examples: int
    billed_tokens: int  # per epoch
    epochs: int
    epochs_rule: str  # "given" or "default rule"
    charged_tokens: int
    price_per_mtok: float | None
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_training(
    report, model: str, *, epochs: int | None = None, price_per_mtok: float | None = None
) -> TrainingEstimate:
    """Training cost from a ValidationReport; `price_per_mtok` is USD per million training tokens or None."""
    if epochs is not None and epochs < 1:
        raise BadInput(f"--epochs must be at least 1, got {epochs}")
    n_epochs = epochs if epochs is not None else report.default_epochs
    charged = n_epochs * report.billed_tokens
    cost = None if price_per_mtok is None else charged * price_per_mtok / 1_000_000
    return TrainingEstimate(model, report.n_examples, report.billed_tokens, n_epochs,
                            "given" if epochs is not None else "default rule", charged, price_per_mtok, cost)


def training_price(model: str, overrides=None) -> float | None:
    """USD per million training tokens of a base model (`PROVIDER:MODEL`; a bare name is OpenAI's).

    The price table keeps it on the fine-tuned entry (`openai:ft:gpt-4.1-mini`), else on the model's own.
    """
    from evalkit.finetune.tokens import base_model
    from evalkit.pricing import price_for

    provider, name = base_model(model)
    for key in (f"{provider}:ft:{name}", f"{provider}:{name}"):
        price = price_for(key, overrides)
        if price is not None and price.training is not None:
            return price.training
    return None


@dataclass(frozen=True)
class RouteCost:
    route: str
    model: str
    n_cases: int
    input_tokens_mean: float
    output_tokens_mean: float
    price_input: float | None  # USD per million
    price_output: float | None
    cost_per_1k_usd: float | None


@dataclass(frozen=True)
class InferenceEstimate:
    prompted: RouteCost
    tuned: RouteCost
    monthly_volume: int | None

    @property
    def delta_input_tokens(self) -> float:
        return self.tuned.input_tokens_mean - self.prompted.input_tokens_mean

    @property
    def delta_per_1k_usd(self) -> float | None:
        if self.tuned.cost_per_1k_usd is None or self.prompted.cost_per_1k_usd is None:
            return None
        return self.tuned.cost_per_1k_usd - self.prompted.cost_per_1k_usd

    @property
    def delta_monthly_usd(self) -> float | None:
        delta = self.delta_per_1k_usd
        return None if delta is None or self.monthly_volume is None else delta * self.monthly_volume / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompted": asdict(self.prompted),
            "tuned": asdict(self.tuned),
            "delta_input_tokens": self.delta_input_tokens,
            "delta_per_1k_usd": self.delta_per_1k_usd,
            "monthly_volume": self.monthly_volume,
            "delta_monthly_usd": self.delta_monthly_usd,
        }


def route_cost(suite, route_name: str, cases: list) -> RouteCost:
    """Mean prompt and answer tokens of a route over cases, and its cost per 1,000 calls."""
    from evalkit.finetune.export import route_plan
    from evalkit.finetune.tokens import counter_for
    from evalkit.pricing import price_for
    from evalkit.routes import serialise_expected

    route = suite.spec.routes[route_name]
    counter = counter_for(route.model)
    plan = route_plan(suite, route_name)
    inputs = [counter.messages(plan.render(case).messages) for case in cases]
    outputs = [counter.text(serialise_expected(case, suite)) for case in cases]
    mean_in, mean_out = sum(inputs) / len(inputs), sum(outputs) / len(outputs)
    price = price_for(route.model, suite.spec.pricing)
    per_1k = None if price is None else 1000 * (mean_in * price.input + mean_out * price.output) / 1_000_000
    return RouteCost(route_name, route.model, len(cases), mean_in, mean_out,
                     price.input if price else None, price.output if price else None, per_1k)


def estimate_inference(suite, *, prompted: str | None = None, tuned: str | None = None,
                       monthly_volume: int | None = None) -> InferenceEstimate:
    """The per-call cost change of replacing the prompted route by the tuned one, over the holdout cases."""
    from evalkit.finetune.export import pick_route

    tuned = pick_route(suite, tuned)
    if prompted is None:
        candidates = [n for n, r in suite.spec.routes.items() if r.kind == "prompted"]
        if len(candidates) != 1:
            raise BadInput(
                "pass --prompted-route: the suite has "
                + (f"several prompted routes ({', '.join(candidates)})" if candidates else "no prompted route"),
                where=str(suite.path),
            )
        prompted = candidates[0]
    else:
        prompted = pick_route(suite, prompted)  # the named route, when the suite has it
    if monthly_volume is not None and monthly_volume < 1:
        raise BadInput(f"--monthly-volume must be positive, got {monthly_volume}")
    cases = suite.holdout
    return InferenceEstimate(route_cost(suite, prompted, cases), route_cost(suite, tuned, cases), monthly_volume)
