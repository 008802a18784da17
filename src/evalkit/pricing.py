"""Prices per million tokens: the shipped table (`pricing.yaml`) and a suite's overrides."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice
from pathlib import Path

from evalkit.suite import Price

#: a dated snapshot or a moving alias of a family:
#: gpt-4.1-2025-04-14, claude-haiku-4-5-20251001, claude-3-5-haiku-latest
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


def call_cost(price: Price | None, input_tokens: int | None, output_tokens: int | None, *,
              cached: int | None = None, written: int | None = None) -> float | None:
    """USD of one call. `input_tokens` counts every input token, `cached` (read from the prompt
    cache) and `written` (written to it) among them: those are priced at the table's
    `cached_input` and `cache_write` rates (the input rate when the table has none). Reasoning
    tokens are output tokens and priced as such."""
    if price is None or input_tokens is None or output_tokens is None:
        return None
    cached, written = cached or 0, written or 0
    fresh = max(input_tokens - cached - written, 0)
    read_rate = price.cached_input if price.cached_input is not None else price.input
    write_rate = price.cache_write if price.cache_write is not None else price.input
    return (fresh * price.input + cached * read_rate + written * write_rate + output_tokens * price.output) / 1_000_000


def caching_advice(suite, calls) -> list[str]:
    """A warning for each prompted route whose `similar` examples make every prompt prefix
    different, so the provider's prompt cache cannot serve it: what its prefix (system prompt
    and examples) costs per 1,000 cases now, and what `fixed` or `stratified` examples, one
    prefix for every call, would cost at the cached-input rate."""
    advice = []
    for name, route in suite.spec.routes.items():
        if route.kind != "prompted" or route.examples is None or route.examples.strategy != "similar":
            continue
        price = price_for(route.model, suite.spec.pricing)
        # a sample: calls render (and are made: planning.PlannedCalls) lazily, so take only these
        mine = list(islice((c for c in calls if c.request.route == name), 20))
        if price is None or price.cached_input is None or not mine:
            continue
        for call in mine:
            call.render()
        prefix = sum(len(m["content"]) for c in mine for m in (c.request.messages or [])[:-1]
                     if isinstance(m.get("content"), str)) / len(mine) / 4
        if prefix < 1:
            continue
        now = prefix * price.input / 1000
        cached = prefix * price.cached_input / 1000
        extra = " with params: {cache_prompt: true}" if route.model.startswith("anthropic:") else ""
        advice.append(f"route {name!r}: `similar` examples make every prompt prefix different, so the prompt cache "
                      f"cannot serve them: its prefix of about {prefix:,.0f} tokens (system prompt and examples) costs "
                      f"${now:.4f} per 1,000 cases at {route.model}'s input rate; `fixed` or `stratified` examples "
                      f"(one prefix for every call){extra} would cost about ${cached:.4f} per 1,000 cases at its "
                      f"cached-input rate, if they answer as well")
    return advice
