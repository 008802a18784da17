"""Repair passes: when an answer does not parse or fails the output schema, ask again in the same
conversation with the validation error, up to the route's `repair: {attempts: N}`.

Every pass is kept on the row (`repair`: the passes made, whether the first answer parsed, the
earlier outputs and their errors, and what the repairs cost in tokens, latency and money), so
the metrics can give the parse rate before and after repair, the share of cases that needed one
and what repairs cost. The row's own tokens, latency and cost are the whole answer's: every pass.
"""

from __future__ import annotations

from typing import Any

REPAIR_PROMPT = (
    "Your answer could not be used: {error}. Reply again with the corrected answer only, "
    "valid JSON that follows the required format."
)


def repair_messages(messages: list[dict[str, Any]], output: str, error: str | None) -> list[dict[str, Any]]:
    """The conversation of the next pass: what was asked, the answer, and what was wrong with it."""
    return [
        *messages,
        {"role": "assistant", "content": output},
        {"role": "user", "content": REPAIR_PROMPT.format(error=error or "it did not parse")},
    ]


def merge_passes(first: Any, passes: list[tuple[Any, Any]], price_cost) -> dict[str, Any]:
    """The row's `repair` entry from the first response and the later (response, score) passes;
    `price_cost(response)` prices one response (None when unknown)."""
    later = [response for response, _ in passes]
    costs = [price_cost(r) for r in later]
    return {
        "passes": len(passes),
        "first_parsed_ok": False,
        "outputs": [first.text, *(r.text for r in later[:-1])],
        "parse_errors": [score.parse_error for _, score in passes[:-1]],
        "input_tokens": _sum(r.input_tokens for r in later),
        "output_tokens": _sum(r.output_tokens for r in later),
        "latency_ms": _sum(r.latency_ms for r in later),
        "cost_usd": None if any(c is None for c in costs) else sum(costs),
    }


def _sum(values) -> Any:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)
