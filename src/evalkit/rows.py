"""A result row: one case through one route, one repeat (a line of results.jsonl).

`Row` names every key a row may hold; `ROW_FIELDS` are the keys every row has, in the order
the README's run-directory table gives them; `result_row` is the one constructor, used by the
executor for live, cached and failed calls and by the batch lane for batch answers. The other
keys (scored fields, cached and reasoning tokens, a stand-in's projected cost, a stale row's
changed parts, a recording's endpoint, a route's own retrieval and cost) are added only when
they apply, so older results files, which lack them, read the same.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Row(TypedDict, total=False):
    case_id: str
    route: str
    repeat: int
    tags: list[str]
    expected_label: str | None
    output: str | None  # the model's text, as returned
    parsed_ok: bool
    parse_error: str | None
    predicted_label: str | None
    correct: bool
    error: dict[str, Any] | None  # {type, message} of a failed call
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None  # what was billed, from the price table (None: unknown)
    cached: bool  # answered from evalkit's response cache
    retrieved: list[Any] | None  # the RAG route's documents, in rank order
    model: str | None  # the model the provider says answered
    finish_reason: str | None
    request_id: str | None
    attempts: int
    request_sha256: str | None  # evalkit.fingerprint
    request_parts: dict[str, str] | None
    provenance: str  # evalkit.provenance
    # -- present only when they apply
    fields: dict[str, Any]
    exact_match: bool
    repair: dict[str, Any]
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    projected_cost_usd: float | None
    stale_parts: list[str]
    endpoint: str
    source_sha256: str
    retrieved_scores: list[float | None]
    retrieved_by: str


#: the keys of every row, in order
ROW_FIELDS = (
    "case_id", "route", "repeat", "tags", "expected_label", "output", "parsed_ok", "parse_error",
    "predicted_label", "correct", "error", "latency_ms", "input_tokens", "output_tokens", "cost_usd",
    "cached", "retrieved", "model", "finish_reason", "request_id", "attempts",
    "request_sha256", "request_parts", "provenance",
)  # fmt: skip


def result_row(
    *,
    case_id: str,
    route: str,
    repeat: int,
    tags: list[str],
    expected_label: str | None,
    provenance: str,
    attempts: int,
    request_sha256: str | None = None,
    request_parts: dict[str, str] | None = None,
    output: str | None = None,
    parsed_ok: bool = False,
    parse_error: str | None = None,
    predicted_label: str | None = None,
    error: dict[str, Any] | None = None,
    latency_ms: float | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost_usd: float | None = None,
    cached: bool = False,
    retrieved: list[Any] | None = None,
    model: str | None = None,
    finish_reason: str | None = None,
    request_id: str | None = None,
) -> Row:
    """A row with every key of `ROW_FIELDS`; `correct` is the predicted label equal to the
    expected one, on a call that did not fail."""
    return {
        "case_id": case_id,
        "route": route,
        "repeat": repeat,
        "tags": tags,
        "expected_label": expected_label,
        "output": output,
        "parsed_ok": parsed_ok,
        "parse_error": parse_error,
        "predicted_label": predicted_label,
        "correct": error is None and predicted_label == expected_label,
        "error": error,
        "latency_ms": latency_ms,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": cost_usd,
        "cached": cached,
        "retrieved": retrieved,
        "model": model,
        "finish_reason": finish_reason,
        "request_id": request_id,
        "attempts": attempts,
        "request_sha256": request_sha256,
        "request_parts": request_parts,
        "provenance": provenance,
    }
