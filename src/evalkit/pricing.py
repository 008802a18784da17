"""Prices per million tokens: the shipped table (`pricing.yaml`) and a suite's overrides."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from evalkit.suite import Price

#: a dated snapshot or a moving alias of a family: gpt-4.1-2025-04-14, claude-haiku-4-5-20251001, claude-3-5-haiku-latest
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{8}$|-latest$")


@lru_cache(maxsize=1)
def shipped_prices() -> dict[str, Price]:
    import yaml

    from evalkit.yamlfile import safe_loader

    data = yaml.load((Path(__file__).parent / "pricing.yaml").read_text(encoding="utf-8"), Loader=safe_loader()) or {}
    return {model: Price.model_validate(price) for model, price in data.items()}


def _candidates(model: str) -> list[str]:
    """The keys to try for a model string, most specific first."""
    prefix, _, name = model.partition(":")
    keys = [model]
    if prefix == "openai" and name.startswith("ft:"):
        base = name.split(":")[1]
        keys += [f"openai:ft:{base}", f"openai:ft:{_SNAPSHOT.sub('', base)}"]
    elif prefix == "bedrock":
        keys.append(f"bedrock:{bedrock_family(name)}")
    elif _SNAPSHOT.search(name):
        keys.append(f"{prefix}:{_SNAPSHOT.sub('', name)}")
    return keys


_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|global|us-gov|ca|jp|au)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$|:\d+$")


def bedrock_family(name: str) -> str:
    """`us.anthropic.claude-3-5-haiku-20241022-v1:0` -> `anthropic.claude-3-5-haiku`."""
    name = _BEDROCK_VERSION.sub("", _BEDROCK_REGION.sub("", name))
    return re.sub(r"-\d{8}$", "", name)


def price_for(model: str, overrides: dict[str, Price] | None = None) -> Price | None:
    table = {**shipped_prices(), **(overrides or {})}
    return next((table[key] for key in _candidates(model) if key in table), None)


def call_cost(price: Price | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
